"""A scripted OpenAI-compatible chat server on 127.0.0.1 for the attribute-pipeline tests: a fault server.

``FakeLLM.script`` is a list of actions consumed one per request:

- ``None``: answer correctly (step-1 prompts get N attributes, step-2 prompts distinct descriptions for
  exactly the classes asked);
- a string: a well-formed completion whose message content is that string;
- an int: fail with that HTTP status (429 comes with ``Retry-After: 0``);
- a ``Reply``: any reply shape (status, headers, raw body bytes, content type, a trickled body), or a name
  from ``FAULTS``, the catalogue of odd replies real servers and proxies give.

When the script is empty it answers correctly. The server binds 127.0.0.1 only. Every loop that sends a
reply is bounded: a trickled body stops when it is sent, when the client hangs up, after ``max_seconds``,
or when the server closes, so no test can leave a request running.
"""
import email.utils
import json
import re
import select
import socket
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FakeLLM", "Reply", "FAULTS", "correct_answer", "completion"]

HTML = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway"
        b"</h1></center><hr><center>nginx</center></body></html>\n")
LOGIN = b"<html><body><form action='/login'>Sign in to continue</form></body></html>"


def correct_answer(messages):
    text = messages[-1]["content"] if messages[-1]["role"] == "user" else ""
    first = next(m["content"] for m in messages if m["role"] == "user")
    if "repair" in text or "could not be used" in text:
        text = first
    m = re.search(r"Name exactly (\d+) visual attributes", text)
    if m:
        n = int(m.group(1))
        return json.dumps({"attributes": [{"name": f"trait {i}", "definition": f"visible trait {i}"}
                                          for i in range(n)]})
    attrs = re.findall(r"^- (trait \d+): ", text, re.M)
    block = text.split("under every attribute:\n", 1)[1].split("\n\n", 1)[0]
    classes = [line[2:] for line in block.splitlines()]
    return json.dumps({"classes": {c: {a: f"{a} look number {zlib.crc32((c + '|' + a).encode()) % 10 ** 8}" for a in attrs}
                                   for c in classes}})


def completion(content, model="m", choices=None):
    """A chat.completion object; ``choices`` overrides the list (e.g. ``[]``)."""
    if choices is None:
        choices = [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]
    return {"id": "x", "object": "chat.completion", "created": 0, "model": model, "choices": choices,
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


class Reply:
    """One reply shape. ``body`` is bytes sent as they are; ``None`` means a correct completion. ``rate``
    trickles the body at that many bytes per second; ``stall`` sends the headers and then nothing."""

    def __init__(self, status=200, body=None, content_type="application/json", headers=None, rate=None,
                 stall=False, choices=None, max_seconds=60.0):
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = dict(headers or {})
        self.rate, self.stall, self.choices, self.max_seconds = rate, stall, choices, max_seconds


def _error(status, message="scripted"):
    return json.dumps({"error": {"message": f"{message} {status}"}}).encode()


def _http_date(seconds_from_now):
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


# Reply shapes that must be retried like a 5xx (and reported in one line if they never stop), by name.
FAULTS = {
    "retry_after_date": lambda: Reply(429, _error(429), headers={"Retry-After": _http_date(1)}),
    "retry_after_past_date": lambda: Reply(503, _error(503), headers={"Retry-After": _http_date(-3600)}),
    "retry_after_negative": lambda: Reply(429, _error(429), headers={"Retry-After": "-5"}),
    "retry_after_garbage": lambda: Reply(429, _error(429), headers={"Retry-After": "soon"}),
    "retry_after_huge": lambda: Reply(503, _error(503), headers={"Retry-After": "99999999"}),
    "html_200": lambda: Reply(200, LOGIN, content_type="text/html; charset=utf-8"),
    "html_as_json": lambda: Reply(200, HTML, content_type="application/json"),
    "html_502": lambda: Reply(502, HTML, content_type="text/html"),
    "not_utf8": lambda: Reply(200, b'{"choices": [{"message": {"content": "\xff\xfe\xfa"}}]}'),
    "empty_choices": lambda: Reply(200, choices=[]),
    "no_choices_key": lambda: Reply(200, json.dumps({"id": "x", "object": "chat.completion"}).encode()),
    "null_content_list": lambda: Reply(200, b"[]"),
    "empty_body": lambda: Reply(200, b""),
    "truncated_json": lambda: Reply(200, b'{"id": "x", "choices": [{"mess'),
    "trickle": lambda: Reply(200, rate=20),
    "stall": lambda: Reply(200, stall=True),
}


class FakeLLM:
    def __init__(self, key="sk-test-123"):
        self.key = key
        self.script = []
        self.requests = []
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 30  # an idle or silent client cannot hold a handler thread for longer

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"auth": self.headers.get("Authorization"), "body": body,
                                       "path": self.path, "time": time.monotonic()})
                if outer.key and self.headers.get("Authorization") != f"Bearer {outer.key}":
                    return self._send(Reply(401, json.dumps({"error": {
                        "message": "Incorrect API key", "type": "invalid_request_error",
                        "code": "invalid_api_key"}}).encode()))
                if body.get("model") == "no-such-model":
                    return self._send(Reply(404, json.dumps({"error": {"message": "model not found",
                                                                       "code": "model_not_found"}}).encode()))
                action = outer.script.pop(0) if outer.script else None
                if isinstance(action, str) and action in FAULTS:
                    action = FAULTS[action]()
                if isinstance(action, int):
                    action = Reply(action, _error(action), headers={"retry-after": "0"} if action == 429 else None)
                elif not isinstance(action, Reply):
                    action = Reply(200, json.dumps(completion(
                        action if isinstance(action, str) else correct_answer(body["messages"]),
                        body["model"])).encode())
                if action.body is None:
                    content = correct_answer(body["messages"])
                    action.body = json.dumps(completion(content, body["model"], action.choices)).encode()
                self._send(action)

            def _send(self, r):
                self.send_response(r.status)
                self.send_header("Content-Type", r.content_type)
                self.send_header("Content-Length", str(len(r.body)))
                for k, v in r.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    if r.stall:
                        self._stall(r)
                    elif r.rate:
                        self._trickle(r)
                    else:
                        self.wfile.write(r.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _stall(self, r):
                """Send nothing more until the client hangs up, the server closes or ``max_seconds`` pass."""
                self.wfile.flush()
                self.close_connection = True
                start = time.monotonic()
                while not outer.closing.is_set() and time.monotonic() - start < r.max_seconds:
                    readable, _, _ = select.select([self.connection], [], [], 0.1)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client closed the connection

            def _trickle(self, r):
                """Send ``r.body`` a few bytes at a time at ``r.rate`` bytes/s; bounded in time."""
                self.wfile.flush()
                step = max(1, int(r.rate // 10))
                start = time.monotonic()
                for i in range(0, len(r.body), step):
                    if outer.closing.is_set() or time.monotonic() - start > r.max_seconds:
                        self.close_connection = True
                        return
                    self.wfile.write(r.body[i:i + step])
                    self.wfile.flush()
                    outer.closing.wait(step / r.rate)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
