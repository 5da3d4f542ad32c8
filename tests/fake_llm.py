"""A stand-in for TGI or vLLM in tests: the OpenAI-compatible routes `make smoke` uses, on 127.0.0.1
only, an ephemeral port, with per-test delays, errors, empty and malformed replies, a bearer key
and a /health that fails N times first. Standard library only; every wait ends at shutdown."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

MODEL = "test-org/test-model"


@dataclass
class Behaviour:
    tokens: tuple[str, ...] = ("Deploy", " it", " with", " kubectl", " apply", ".")
    first_token_delay: float = 0.0  # seconds before the first streamed token
    token_delay: float = 0.0  # seconds between streamed tokens
    reply_delay: float = 0.0  # seconds before a non-streamed reply
    status: int = 200  # of /v1/completions, streamed or not
    stream_status: Optional[int] = None  # of streamed /v1/completions only, when set
    chat_status: Optional[int] = None  # of /v1/chat/completions; None: like `status`; 404: not served
    fail_every: int = 0  # every n-th streamed completion answers 503
    empty: bool = False  # text "" everywhere
    malformed: bool = False  # not JSON: a non-streamed reply, and the streamed events
    usage_tokens: Optional[int] = None  # sent as usage.completion_tokens when asked; None: no usage
    api_key: Optional[str] = None  # required as a bearer token on every route
    health_failures: int = 0  # /health answers 503 this many times, then 200
    health_status: int = 200  # after the failures
    models: bool = True  # serve /v1/models
    reject_stream_options: bool = False  # answer 422 to a body with stream_options (a strict server)
    slow_from_stream: int = 1  # first_token_delay applies from this streamed request on (1: all)
    max_prompt_chars: Optional[int] = None  # a longer prompt gets 400, as a prompt past the context does
    burst: bool = False  # a buffering proxy: the whole stream is written at once, after the delays
    models_status: int = 200  # of /v1/models (401: a key the route wants; 404: not served)
    max_model_len: Optional[int] = None  # listed on /v1/models as vLLM does
    v1_health: bool = False  # also answer /v1/health 200, as llama.cpp's server does
    listed_id: Optional[str] = None  # the id /v1/models lists instead of MODEL (TGI lists its MODEL_ID path)


@dataclass
class Seen:
    paths: list[str] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)  # JSON bodies of POSTs, in order
    auth: list[Optional[str]] = field(default_factory=list)
    streams: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeLLM(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping does not hold up the test's end

    def __init__(self, behaviour: Behaviour, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)  # loopback only; 0: an ephemeral port
        self.behaviour = behaviour
        self.seen = Seen()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FakeLLM":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address):
        pass  # a client that hung up (a timeout test) is expected, not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as real servers do
    # Each streamed token is a small write; without this, Nagle's algorithm holds it back until
    # the client's delayed ACK (~40 ms), which would add to every measured time.
    disable_nagle_algorithm = True
    server: FakeLLM

    def log_message(self, format, *args):
        pass

    def _pause(self, seconds: float) -> bool:
        """Sleep unless the server stops; False when it does."""
        return not (seconds and self.server.stopping.wait(seconds))

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode())

    def _error(self, status: int) -> None:
        self._json(status, {"error": f"fake error {status}", "error_type": "fake"})

    def _authorized(self) -> bool:
        b = self.server.behaviour
        header = self.headers.get("Authorization")
        with self.server.seen.lock:
            self.server.seen.paths.append(self.path)
            self.server.seen.auth.append(header)
        if b.api_key is not None and header != f"Bearer {b.api_key}":
            self._json(401, {"error": "Unauthorized"})
            return False
        return True

    def do_GET(self):
        if not self._authorized():
            return
        b = self.server.behaviour
        if self.path == "/health":
            with self.server.seen.lock:
                failing = b.health_failures > 0
                if failing:
                    b.health_failures -= 1
            self._send(503 if failing else b.health_status, b"")
        elif self.path == "/v1/health" and b.v1_health:
            self._send(200, b"")
        elif self.path == "/v1/models" and b.models and b.models_status != 200:
            self._error(b.models_status)
        elif self.path == "/v1/models" and b.models:
            card = {"id": b.listed_id or MODEL, "object": "model"}
            if b.max_model_len is not None:
                card["max_model_len"] = b.max_model_len
            self._json(200, {"object": "list", "data": [card]})
        else:
            self._error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if not self._authorized():
            return
        body = json.loads(raw or b"{}")
        with self.server.seen.lock:
            self.server.seen.bodies.append(body)
        if self.path == "/v1/completions":
            if self.server.behaviour.reject_stream_options and "stream_options" in body:
                return self._error(422)
            limit = self.server.behaviour.max_prompt_chars
            if limit is not None and len(body.get("prompt") or "") > limit:
                return self._error(400)  # vLLM answers 400 to a prompt past the model's context
            self._stream(body) if body.get("stream") else self._complete(body, chat=False)
        elif self.path == "/v1/chat/completions":
            self._complete(body, chat=True)
        else:
            self._error(404)

    def _tokens(self, body: dict) -> tuple[str, ...]:
        return self.server.behaviour.tokens[: body.get("max_tokens") or None]

    def _text(self, body: dict) -> str:
        return "" if self.server.behaviour.empty else "".join(self._tokens(body))

    def _complete(self, body: dict, chat: bool) -> None:
        b = self.server.behaviour
        status = b.chat_status if chat and b.chat_status is not None else b.status
        if not self._pause(b.reply_delay):
            return
        if status != 200:
            return self._error(status)
        if b.malformed:
            return self._send(200, b"<html>not json</html>", "text/html")
        choice = ({"index": 0, "message": {"role": "assistant", "content": self._text(body)}, "finish_reason": "stop"}
                  if chat else {"index": 0, "text": self._text(body), "finish_reason": "length"})
        self._json(200, {"id": "x", "object": "chat.completion" if chat else "text_completion", "model": MODEL,
                         "choices": [choice], "usage": {"completion_tokens": len(self._tokens(body))}})

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, body: dict) -> None:
        b = self.server.behaviour
        with self.server.seen.lock:
            self.server.seen.streams += 1
            n = self.server.seen.streams
        status = b.stream_status if b.stream_status is not None else b.status
        if b.fail_every and n % b.fail_every == 0:
            status = 503
        if status != 200:
            return self._error(status)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if n >= b.slow_from_stream and not self._pause(b.first_token_delay):
            return
        held: list[bytes] = []  # burst: what a buffering proxy holds back until the end
        send = held.append if b.burst else self._chunk
        tokens = self._tokens(body)
        for i, token in enumerate(tokens):
            if i and not self._pause(b.token_delay):
                return
            last = i == len(tokens) - 1
            choice = {"index": 0, "text": "" if b.empty else token, "finish_reason": "length" if last else None}
            event = b"data: not json" if b.malformed else b"data: " + json.dumps(
                {"id": "x", "object": "text_completion", "model": MODEL, "choices": [choice]}).encode()
            send(event + b"\n\n")
        if b.usage_tokens is not None and (body.get("stream_options") or {}).get("include_usage"):
            usage = {"id": "x", "object": "text_completion", "choices": [],
                     "usage": {"prompt_tokens": 7, "completion_tokens": b.usage_tokens}}
            send(b"data: " + json.dumps(usage).encode() + b"\n\n")
        send(b"data: [DONE]\n\n")
        if held:
            self._chunk(b"".join(held))  # one write: the client reads it all at once
        self._chunk(b"")  # the zero-length chunk ends the response


def serve(behaviour: Behaviour, port: int = 0) -> FakeLLM:
    return FakeLLM(behaviour, port).start()


if __name__ == "__main__":  # by hand: python tests/fake_llm.py, then make smoke URL=<printed>
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--first-token-delay", type=float, default=0.2)
    p.add_argument("--token-delay", type=float, default=0.02)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--seconds", type=float, default=600, help="stop after this long")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    a = p.parse_args()
    words = tuple(f" word{i}" for i in range(a.tokens))
    server = serve(Behaviour(tokens=words, first_token_delay=a.first_token_delay, token_delay=a.token_delay),
                   a.port)
    print(server.url, flush=True)
    try:
        time.sleep(a.seconds)
    finally:
        server.stop()
