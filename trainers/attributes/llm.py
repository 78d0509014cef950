"""Chat requests through the ``openai`` client, with our own retry policy and actionable final errors.

Retried with exponential backoff and jitter: rate limits (429), server errors (5xx), time-outs and refused
connections. Not retried, and explained: a bad key (401/403), an unknown model (404), a rejected request.
The API key is read from ``OPENAI_API_KEY`` only, and never logged or stored.
"""
import os
import random
import time
from urllib.parse import urlparse

__all__ = ["LLMError", "LLMClient", "endpoint_host"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class LLMError(RuntimeError):
    """A request that failed for good; the message names the setting to fix."""


def endpoint_host(base_url):
    """The host (and port) of an endpoint, for provenance: never the key, never the path's secrets."""
    parsed = urlparse(base_url or DEFAULT_BASE_URL)
    return parsed.netloc or parsed.path


class LLMClient:
    def __init__(self, model, base_url=None, timeout=120.0, max_attempts=6, backoff=1.0, max_backoff=60.0,
                 json_mode=True, temperature=0.2, sleep=time.sleep, seed=0):
        try:
            import openai
        except ImportError as e:
            raise LLMError("The attribute pipeline needs the openai package: pip install openai") from e
        self.openai = openai
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url.rstrip("/") == DEFAULT_BASE_URL:
                raise LLMError("OPENAI_API_KEY is not set. Export it (it is read from the environment only), or "
                               "point --base-url / OPENAI_BASE_URL at a local OpenAI-compatible server.")
            key = "not-needed"  # local servers usually ignore the key
        self.client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0)
        self.model = model
        self.max_attempts = max_attempts
        self.backoff, self.max_backoff = backoff, max_backoff
        self.json_mode = json_mode
        self.temperature = temperature
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.requests = 0
        self.retries = 0
        self.tokens = 0

    @property
    def host(self):
        return endpoint_host(self.base_url)

    def _delay(self, attempt, retry_after=None):
        if retry_after is not None:
            return min(float(retry_after), self.max_backoff)
        base = min(self.backoff * (2 ** attempt), self.max_backoff)
        return base * (0.5 + self.rng.random())  # jitter in [0.5, 1.5) x

    def chat(self, messages, on_retry=None):
        """The reply text of one chat completion (after retries)."""
        o = self.openai
        kwargs = {"model": self.model, "messages": messages, "temperature": self.temperature}
        if self.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        last = None
        for attempt in range(self.max_attempts):
            try:
                self.requests += 1
                resp = self.client.chat.completions.create(**kwargs)
                usage = getattr(resp, "usage", None)
                self.tokens += getattr(usage, "total_tokens", 0) or 0
                if not resp.choices:
                    raise LLMError(f"{self.host} returned no choices for model {self.model!r}")
                return resp.choices[0].message.content or ""
            except o.AuthenticationError as e:
                raise LLMError(f"{self.host} rejected the API key (401): check OPENAI_API_KEY") from e
            except o.PermissionDeniedError as e:
                raise LLMError(f"{self.host} denied access (403) to model {self.model!r}: check the key's "
                               "permissions (OPENAI_API_KEY) or choose another --model") from e
            except o.NotFoundError as e:
                raise LLMError(f"{self.host} does not know model {self.model!r} (404): check --model, or "
                               "--base-url / OPENAI_BASE_URL if the path is wrong") from e
            except o.RateLimitError as e:
                last, retry_after = e, e.response.headers.get("retry-after") if e.response is not None else None
            except o.InternalServerError as e:
                last, retry_after = e, None
            except (o.APITimeoutError, o.APIConnectionError) as e:
                last, retry_after = e, None
            except o.APIStatusError as e:
                if e.status_code >= 500:
                    last, retry_after = e, None
                else:
                    raise LLMError(f"{self.host} rejected the request ({e.status_code}): {e.message}. If the "
                                   "server does not support JSON mode, pass --no-json-mode.") from e
            if attempt + 1 < self.max_attempts:
                self.retries += 1
                delay = self._delay(attempt, retry_after)
                if on_retry:
                    on_retry(f"{type(last).__name__}: retrying in {delay:.1f}s")
                self.sleep(delay)
        if isinstance(last, (o.APIConnectionError,)) and not isinstance(last, o.APITimeoutError):
            raise LLMError(f"Cannot reach {self.base_url} after {self.max_attempts} attempts: check --base-url / "
                           "OPENAI_BASE_URL and that the server is running") from last
        raise LLMError(f"{self.host} kept failing after {self.max_attempts} attempts "
                       f"({type(last).__name__}); try again later or lower --batch-size") from last
