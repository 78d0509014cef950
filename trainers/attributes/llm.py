"""Chat requests through the ``openai`` client, with our own retry policy and actionable final errors.

Retried with exponential backoff and jitter: rate limits (429), request time-outs (408), server errors
(5xx), time-outs, refused or dropped connections, and replies a proxy or a half-working server gives with
status 200: an HTML page, a body that is not UTF-8 or not JSON, a completion without ``choices``. A
``Retry-After`` header is honoured when it is a number of seconds or an HTTP date (capped; a negative or
unreadable one falls back to the backoff). ``timeout`` bounds each whole request, however slowly the
reply trickles in. Not retried, and explained: a bad key (401/403), an unknown model (404), a rejected
request. What still fails is one sentence naming the endpoint (host and port only) and the cause.

The API key is read from ``OPENAI_API_KEY`` only, and never logged or stored; user names and passwords
written into ``--base-url`` are sent to the server but never printed or stored (``endpoint_host``,
``redact_url``).
"""
import email.utils
import json
import math
import os
import random
import threading
import time
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LLMError", "LLMClient", "endpoint_host", "redact_url"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class LLMError(RuntimeError):
    """A request that failed for good; the message names the setting to fix."""


class _Transient(Exception):
    """A reply worth retrying; ``str()`` says what was wrong with it."""

    def __init__(self, cause, retry_after=None):
        super().__init__(cause)
        self.retry_after = retry_after


def endpoint_host(base_url):
    """The host (and port) of an endpoint, for provenance and messages: never a user name or password."""
    try:
        parsed = urlsplit(base_url or DEFAULT_BASE_URL)
        host = parsed.hostname or ""
        port = parsed.port
    except ValueError:  # an unparsable port: keep what follows the last "@" only
        netloc = urlsplit(base_url or "").netloc
        return netloc.rsplit("@", 1)[-1] or "<unparsable --base-url>"
    if not host:
        return "<no host in --base-url>"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def redact_url(url):
    """``url`` without user name, password, query or fragment: safe to print."""
    try:
        parsed = urlsplit(url)
        return urlunsplit((parsed.scheme, endpoint_host(url), parsed.path, "", ""))
    except ValueError:
        return endpoint_host(url)


def parse_retry_after(value, now=None):
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date); ``None`` when unusable."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    if seconds < 0:
        return 0.0 if "," in value or " " in value else None  # a date in the past: now; a negative number: unusable
    return seconds


def _looks_like_html(text):
    head = text.lstrip()[:200].lower()
    return head.startswith("<!doctype") or head.startswith("<html") or "<html" in head or "<body" in head


def parse_completion(body, content_type=""):
    """``(content, total_tokens)`` from the raw bytes of a 200 reply; ``_Transient`` when it is unusable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Transient(f"a reply that is not UTF-8 text ({len(body)} bytes)") from None
    if not text.strip():
        raise _Transient("an empty reply")
    try:
        obj = json.loads(text)
    except ValueError:
        if _looks_like_html(text):
            label = "labelled as JSON" if "json" in (content_type or "").lower() else "status 200"
            raise _Transient(f"an HTML page instead of JSON ({label}; a proxy, gateway or login page?)") from None
        raise _Transient(f"a reply that is not valid JSON ({len(body)} bytes, "
                         f"Content-Type {content_type or 'not given'})") from None
    if not isinstance(obj, dict):
        raise _Transient(f"a JSON {type(obj).__name__} instead of a chat completion object")
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        err = obj.get("error")
        detail = f": {str(err.get('message', err) if isinstance(err, dict) else err)[:120]}" if err else ""
        raise _Transient(f"a completion with no choices{detail}")
    first = choices[0] if isinstance(choices[0], dict) else {}
    message = first.get("message") if isinstance(first.get("message"), dict) else {}
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _Transient("a completion whose message content is not text")
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else {}
    tokens = usage.get("total_tokens") if isinstance(usage.get("total_tokens"), int) else 0
    return content or "", tokens


class LLMClient:
    def __init__(self, model, base_url=None, timeout=120.0, max_attempts=6, backoff=1.0, max_backoff=60.0,
                 json_mode=True, temperature=0.2, sleep=time.sleep, seed=0):
        try:
            import openai
        except ImportError as e:
            raise LLMError("The attribute pipeline needs the openai package: pip install openai") from e
        if not timeout or timeout <= 0:
            raise LLMError(f"--timeout must be a positive number of seconds, got {timeout}")
        if max_attempts < 1:
            raise LLMError(f"--max-attempts must be at least 1, got {max_attempts}")
        self.openai = openai
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        parsed = urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LLMError(f"--base-url / OPENAI_BASE_URL must be an http(s) URL such as http://localhost:8000/v1, "
                           f"got {redact_url(self.base_url)!r}")
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url.rstrip("/") == DEFAULT_BASE_URL:
                raise LLMError("OPENAI_API_KEY is not set. Export it (it is read from the environment only), or "
                               "point --base-url / OPENAI_BASE_URL at a local OpenAI-compatible server.")
            key = "not-needed"  # local servers usually ignore the key
        self._key = key
        self.timeout = float(timeout)
        self.client = self._new_client()
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

    def _new_client(self):
        # the per-read time-out is the whole budget too; _call enforces the whole-request deadline
        return self.openai.OpenAI(api_key=self._key, base_url=self.base_url, timeout=self.timeout, max_retries=0)

    @property
    def host(self):
        return endpoint_host(self.base_url)

    def _delay(self, attempt, retry_after=None):
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), self.max_backoff)
        base = min(self.backoff * (2 ** attempt), self.max_backoff)
        return base * (0.5 + self.rng.random())  # jitter in [0.5, 1.5) x

    def _call(self, kwargs):
        """One request, bounded as a whole by ``timeout``: ``(status, headers, body bytes)`` of a 2xx reply.

        The request runs in a daemon thread; if the deadline passes first, the client's connections are
        closed (which ends the slow read) and a fresh client is made for the next attempt.
        """
        box = {}
        client = self.client

        def work():
            try:
                raw = client.chat.completions.with_raw_response.create(**kwargs)
                box["reply"] = (raw.status_code, raw.headers, raw.content)
            except BaseException as e:  # handed to the caller's thread
                box["error"] = e

        worker = threading.Thread(target=work, name="llm-request", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            self.client = self._new_client()
            try:
                client.close()
            except Exception:  # the abandoned client may be mid-read; it is discarded either way
                pass
            raise _Transient(f"no complete reply within --timeout {self.timeout:g}s")
        if "error" in box:
            raise box["error"]
        return box["reply"]

    def _request(self, messages):
        """The keyword arguments of one chat-completion request."""
        kwargs = {"model": self.model, "messages": messages, "temperature": self.temperature}
        if self.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def _attempt(self, kwargs):
        """One try: the reply text, counting the request and its tokens."""
        self.requests += 1
        status, headers, body = self._call(kwargs)
        content, tokens = parse_completion(body, headers.get("content-type", ""))
        self.tokens += tokens
        return content

    def _status_failure(self, e):
        """``(cause, refused, retry_after)`` of an HTTP error status worth retrying; ``LLMError`` otherwise."""
        o = self.openai
        if isinstance(e, o.AuthenticationError):
            raise LLMError(f"{self.host} rejected the API key (401): check OPENAI_API_KEY") from e
        if isinstance(e, o.PermissionDeniedError):
            raise LLMError(f"{self.host} denied access (403) to model {self.model!r}: check the key's "
                           "permissions (OPENAI_API_KEY) or choose another --model") from e
        if isinstance(e, o.NotFoundError):
            raise LLMError(f"{self.host} does not know model {self.model!r} (404): check --model, or "
                           "--base-url / OPENAI_BASE_URL if the path is wrong") from e
        status = e.status_code
        if status in (408, 409, 429) or status >= 500:
            headers = e.response.headers if e.response is not None else {}
            retry_after = parse_retry_after(headers.get("retry-after"))
            kind = "rate limit" if status == 429 else "server error" if status >= 500 else "time-out"
            return f"HTTP {status} ({kind})", False, retry_after
        raise LLMError(f"{self.host} rejected the request ({status}): {str(e.message)[:200]}. If the "
                       "server does not support JSON mode, pass --no-json-mode.") from e

    def _failure(self, e):
        """``(cause, refused, retry_after)`` of a failed try worth retrying (``refused``: the connection was
        refused); ``LLMError`` for a failure that retrying cannot fix."""
        o = self.openai
        if isinstance(e, _Transient):
            return str(e), False, None
        if isinstance(e, o.APIStatusError):
            return self._status_failure(e)
        if isinstance(e, o.APITimeoutError):
            return f"no reply within --timeout {self.timeout:g}s", False, None
        if isinstance(e, o.APIConnectionError):
            reason = e.__cause__ or e.__context__
            cause = f"connection failed ({type(reason).__name__ if reason else 'no reply'})"
            refused = isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower()
            refused = refused or "connect" in type(reason).__name__.lower()
            return cause, refused, None
        return f"a reply the client could not read ({str(e)[:100]})", False, None  # APIResponseValidationError

    def _final_error(self, cause, refused):
        """The ``LLMError`` once every attempt has failed."""
        if refused:
            return LLMError(f"Cannot reach {redact_url(self.base_url)} after {self.max_attempts} attempts ({cause}): "
                            "check --base-url / OPENAI_BASE_URL and that the server is running")
        return LLMError(f"{self.host} kept failing after {self.max_attempts} attempts (last: {cause}); check that "
                        "--base-url / OPENAI_BASE_URL points at an OpenAI-compatible API, try again later or "
                        "lower --batch-size")

    def chat(self, messages, on_retry=None):
        """The reply text of one chat completion (after retries)."""
        o = self.openai
        # every failure _failure knows (APITimeoutError is an APIConnectionError; 401, 403 and 404 are
        # APIStatusErrors); anything else propagates
        retryable = (_Transient, o.APIStatusError, o.APIConnectionError, o.APIResponseValidationError)
        kwargs = self._request(messages)
        cause, refused = "no attempt made", False
        for attempt in range(self.max_attempts):
            try:
                return self._attempt(kwargs)
            except retryable as e:
                cause, refused, retry_after = self._failure(e)
            if attempt + 1 < self.max_attempts:
                self.retries += 1
                delay = self._delay(attempt, retry_after)
                if on_retry:
                    on_retry(f"{self.host}: {cause}; retrying in {delay:.1f}s")
                self.sleep(delay)
        raise self._final_error(cause, refused)
