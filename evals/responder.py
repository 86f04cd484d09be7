"""A small deterministic OpenAI-compatible responder: the demo model, and the model tests call.

Speaks the subset the product uses: ``POST /v1/chat/completions`` (answers and judge verdicts),
``POST /v1/invoke`` (an agent invoke URL) and ``GET /v1/models``. Standard library only; no network
beyond the socket it listens on (127.0.0.1).

Answers are a pure function of the request, so experiments are reproducible:
- A system prompt can hold facts, one per line: ``- <keyword>: <answer>``. A user message that
  mentions a keyword gets that answer; anything else gets the fallback ``FALLBACK``. Two prompt
  versions with different facts therefore score differently on the same dataset.
- A judge request (system prompt from ``evals.judge``) gets ``{"score", "reasoning"}``: the share of the
  expected output's words found in the answer (or 1/0.3 for a helpful/unhelpful answer without one).
- Failure modes on demand, per request with a marker in the user message (``[fail:401]``,
  ``[fail:500]``, ``[fail:timeout]``, ``[fail:malformed]``, ``[fail:offrubric]``) or for every request
  with ``Responder.mode``. ``api_key`` set: requests without that bearer key get 401.

Run it alone: ``python -m evals.responder --port 8765`` (``make demo`` does, as the demo model).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEMO_MODEL = "demo-model"
FALLBACK = "I am not sure about that; let me hand this to a human colleague."
FACT_LINE = re.compile(r"^\s*[-*]\s*([^:\n]{2,60}):\s*(.+?)\s*$", re.MULTILINE)
FAIL_MARKER = re.compile(r"\[fail:(\w+)\]")
JUDGE_MARKER = "You are an impartial evaluator."
WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def answer_for(system: str, user: str) -> str:
    """The deterministic answer to ``user`` under the system prompt ``system``."""
    lowered = user.lower()
    for keyword, answer in FACT_LINE.findall(system or ""):
        if keyword.strip().lower() in lowered:
            return answer
    return FALLBACK


def judge(user: str) -> dict:
    sections = dict(re.findall(r"^(QUESTION|ANSWER|EXPECTED):\n(.*?)(?=\n\n(?:QUESTION|ANSWER|EXPECTED):\n|\Z)", user,
                               re.MULTILINE | re.DOTALL))
    answer, expected = sections.get("ANSWER", ""), sections.get("EXPECTED", "")
    if expected.strip():
        wanted = {w for w in _words(expected) if len(w) > 3} or set(_words(expected))
        found = wanted & set(_words(answer))
        score = round(len(found) / len(wanted), 3) if wanted else 0.0
        return {"score": score, "reasoning": f"The answer has {len(found)} of {len(wanted)} key words of the expected output."}
    helpful = bool(answer.strip()) and FALLBACK.lower() not in answer.lower()
    return {"score": 1.0 if helpful else 0.3,
            "reasoning": "The answer addresses the request." if helpful else "The answer defers instead of helping."}


class Responder:
    """The server and its knobs; ``url`` is the OpenAI base URL (``.../v1``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str = "", hang_seconds: float = 5.0,
                 delay_seconds: float = 0.0) -> None:
        self.mode = ""  # "", "401", "500", "timeout", "malformed", "offrubric"
        self.api_key = api_key
        self.hang_seconds = hang_seconds
        self.delay_seconds = delay_seconds
        self.requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        handler = type("Handler", (_Handler,), {"responder": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def host_port(self) -> str:
        """``host:port``, as the outbound allow-list (``OUTBOUND_ALLOWED_HOSTS``) names it."""
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    @property
    def invoke_url(self) -> str:
        return self.url + "/invoke"

    def start(self) -> Responder:
        self.thread = threading.Thread(target=self.server.serve_forever, name="responder", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes requests hanging in "timeout" mode
        self.server.shutdown()
        self.server.server_close()

    def count(self) -> None:
        with self._lock:
            self.requests += 1


@contextmanager
def serve(**kwargs):
    responder = Responder(**kwargs).start()
    try:
        yield responder
    finally:
        responder.stop()


class _Handler(BaseHTTPRequestHandler):
    responder: Responder
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: tests and the demo log elsewhere
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without TCP_NODELAY the body waits for the client's
        # delayed ACK (~40 ms per answer on Linux), which would be measured as model latency.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode())

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") == "/v1/models":
            return self._json(200, {"object": "list", "data": [{"id": DEMO_MODEL, "object": "model",
                                                                 "owned_by": "agentops demo (local, deterministic)"}]})
        return self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        r = self.responder
        r.count()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if r.api_key and self.headers.get("Authorization", "") != f"Bearer {r.api_key}":
            return self._json(401, {"error": {"message": "invalid API key", "type": "invalid_request_error"}})
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            return self._json(400, {"error": {"message": "body is not JSON"}})
        path = self.path.rstrip("/")
        messages = request.get("messages") or []
        if path.endswith("/invoke") and not messages:
            messages = [{"role": "user", "content": str(request.get("input", ""))}]
        system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
        user = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
        marker = FAIL_MARKER.search(user)
        mode = marker.group(1) if marker and JUDGE_MARKER not in system else r.mode
        if JUDGE_MARKER in system and "[fail:offrubric]" in user:
            mode = "offrubric"
        if mode == "401":
            return self._json(401, {"error": {"message": "invalid API key"}})
        if mode == "500":
            return self._json(500, {"error": {"message": "the model is overloaded"}})
        if mode == "timeout":
            r._stop.wait(r.hang_seconds)
            return self._json(504, {"error": {"message": "gave up"}})
        if mode == "malformed":
            return self._send(200, b"<html>not an API</html>", "text/html")
        if r.delay_seconds:
            time.sleep(r.delay_seconds)
        if JUDGE_MARKER in system:
            content = "I think it is fine." if mode == "offrubric" else json.dumps(judge(user))
        else:
            content = answer_for(system, user)
        prompt_tokens = sum(len(_words(str(m.get("content", "")))) for m in messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(_words(content)),
                 "total_tokens": prompt_tokens + len(_words(content))}
        if path.endswith("/invoke"):
            return self._json(200, {"output": content, "usage": usage, "tool_calls": []})
        return self._json(200, {
            "id": f"chatcmpl-demo-{r.requests}", "object": "chat.completion", "created": 0,
            "model": request.get("model") or DEMO_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage,
        })


def main() -> None:
    parser = argparse.ArgumentParser(description="Deterministic OpenAI-compatible demo model (local only).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    responder = Responder(args.host, args.port)
    print(f"demo model ({DEMO_MODEL}) listening on {responder.url}", flush=True)
    try:
        responder.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
