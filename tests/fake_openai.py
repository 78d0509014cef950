"""A scripted OpenAI-compatible chat server on 127.0.0.1 for the attribute-pipeline tests.

``FakeLLM.script`` is a list of actions consumed one per request: an int (HTTP status to fail with), a
string (the reply text), or ``None`` (answer correctly). When the script is empty it answers correctly:
step-1 prompts get N attributes, step-2 prompts distinct descriptions for exactly the classes asked.
"""
import json
import zlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
    block = text.split("under every attribute:\n", 1)[1].split("\n\nRules", 1)[0]
    classes = [line[2:] for line in block.splitlines()]
    return json.dumps({"classes": {c: {a: f"{a} look number {zlib.crc32((c + '|' + a).encode()) % 10 ** 8}" for a in attrs}
                                   for c in classes}})


class FakeLLM:
    def __init__(self, key="sk-test-123"):
        self.key = key
        self.script = []
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"auth": self.headers.get("Authorization"), "body": body})
                if outer.key and self.headers.get("Authorization") != f"Bearer {outer.key}":
                    return self._send(401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error",
                                                      "code": "invalid_api_key"}})
                if body.get("model") == "no-such-model":
                    return self._send(404, {"error": {"message": "model not found", "code": "model_not_found"}})
                action = outer.script.pop(0) if outer.script else None
                if isinstance(action, int):
                    return self._send(action, {"error": {"message": f"scripted {action}"}},
                                      headers={"retry-after": "0"} if action == 429 else None)
                content = action if isinstance(action, str) else correct_answer(body["messages"])
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": content}}],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
