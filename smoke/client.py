"""Talking to the server: readiness on /health, the correctness checks, and one streamed completion
with its timings. Every failure becomes a `RequestFailed` with a kind, never a stray exception."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Callable, Optional

import httpx

from smoke import EXIT_USAGE, EXIT_WRONG, SmokeError
from smoke.discovery import NotYet

# Readiness polls start fast (a warm server answers at once) and back off to one every 5 s, which
# is plenty for a cold start measured in minutes and light on a pod that is busy loading weights.
POLL_FIRST_S = 0.25
POLL_MAX_S = 5.0
HEALTH_TIMEOUT_S = 10.0
CHAT_PROMPT = "How do I deploy a container on Kubernetes? Answer in one sentence."


class RequestFailed(Exception):
    """One request went wrong; `kind` is what the error table counts (timeout, http_503, ...)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, " ".join(detail.split())


def new_client(url: str, api_key: Optional[str], timeout_s: float, concurrency: int) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    # Enough connections that the requested concurrency is real, not queued in the client pool.
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=httpx.Timeout(timeout_s), limits=limits)


def describe(e: BaseException) -> tuple[str, str]:
    """(kind, words) for a transport-level exception."""
    if isinstance(e, (httpx.TimeoutException, TimeoutError)):
        return "timeout", "timed out"
    if isinstance(e, httpx.ConnectError):
        # httpx wraps the socket error a few levels down ("All connection attempts failed").
        cause: Optional[BaseException] = e
        while cause is not None and not isinstance(cause, ConnectionRefusedError):
            cause = cause.__cause__ or cause.__context__
        return "connection", "connection refused" if cause is not None else f"cannot connect ({e})"
    if isinstance(e, httpx.HTTPError):
        # The server closed or reset the connection mid-request (a pod going away, a proxy).
        return "connection", f"connection lost ({e.__class__.__name__}{': ' + str(e) if str(e) else ''})"
    return "error", f"{e.__class__.__name__}: {e}"


def auth_failure(status: int, api_key_set: bool) -> SmokeError:
    if api_key_set:
        return SmokeError(f"the API key was rejected (HTTP {status}); check API_KEY against the stack's apiKey",
                          EXIT_USAGE)
    return SmokeError(f"the endpoint needs an API key (HTTP {status}); set API_KEY to the stack's apiKey",
                      EXIT_USAGE)


def _http_failure(response: httpx.Response) -> RequestFailed:
    if response.status_code in (401, 403):
        return RequestFailed("auth", f"HTTP {response.status_code}")
    body = response.text.strip()[:200]  # the body is read by then, streamed or not
    return RequestFailed(f"http_{response.status_code}", f"HTTP {response.status_code}" + (f": {body}" if body else ""))


@dataclass(frozen=True)
class Readiness:
    status: str  # "/health 200" or "no /health (404)"
    waited_s: float


async def wait_ready(client: httpx.AsyncClient, wait_s: float, on_status: Callable[[str, float], None],
                     before_poll: Optional[Callable[[], None]] = None, api_key_set: bool = False,
                     hint: str = "") -> Readiness:
    """Poll GET /health until 200, for at most `wait_s` seconds. Connection errors and 5xx mean "not
    yet" (the port opens only once the weights are loaded); 401/403 stops at once."""
    start = time.monotonic()
    interval = POLL_FIRST_S
    answered, last = False, "no answer yet"
    while True:
        try:
            if before_poll is not None:
                before_poll()
            response = await client.get("health", timeout=HEALTH_TIMEOUT_S)
        except NotYet as e:
            last = str(e)
        except httpx.HTTPError as e:
            last = describe(e)[1]
        else:
            answered = True
            if response.status_code == 200:
                return Readiness("/health 200", time.monotonic() - start)
            if response.status_code in (401, 403):
                raise auth_failure(response.status_code, api_key_set)
            if response.status_code == 404:
                # Both TGI and vLLM serve /health; a proxy or another server may not. The
                # correctness request that follows is the real test.
                return Readiness("no /health (404)", time.monotonic() - start)
            last = f"HTTP {response.status_code}"
        elapsed = time.monotonic() - start
        on_status(last, elapsed)
        if elapsed >= wait_s:
            if answered:
                raise SmokeError(f"not ready after {elapsed:.0f} s (/health last: {last}); {hint}"
                                 "or wait longer with --wait", EXIT_WRONG)
            raise SmokeError(f"cannot reach the endpoint after {elapsed:.0f} s: {last}; check the URL (--url) "
                             "and that the server runs, or wait longer with --wait", EXIT_USAGE)
        await asyncio.sleep(min(interval, max(0.0, wait_s - elapsed)))
        interval = min(interval * 2, POLL_MAX_S)


@dataclass(frozen=True)
class Listing:
    """What GET /v1/models said: the first model id, or why there is none."""
    model: Optional[str]
    problem: Optional[str] = None  # "HTTP 404", "not JSON", ...: shown next to the fallback name
    max_model_len: Optional[int] = None  # the context length, when the server says it (vLLM does)


async def served_model(client: httpx.AsyncClient) -> Listing:
    """The model id the server lists on /v1/models (vLLM insists on it; TGI accepts any name).
    401/403 is a `RequestFailed("auth")`: the key is wrong for every request that follows, and a
    report naming another model would hide it. Any other problem is kept, to be shown."""
    try:
        response = await client.get("v1/models", timeout=HEALTH_TIMEOUT_S)
    except httpx.HTTPError as e:
        return Listing(None, describe(e)[1])
    if response.status_code in (401, 403):
        raise _http_failure(response)
    if response.status_code != 200:
        return Listing(None, f"HTTP {response.status_code}")
    try:
        first = response.json()["data"][0]
        model = first["id"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Listing(None, "no model id in the reply")
    if not isinstance(model, str) or not model:
        return Listing(None, "no model id in the reply")
    # vLLM's model card carries max_model_len (vllm/entrypoints/openai/protocol.py, ModelCard).
    length = first.get("max_model_len") if isinstance(first, dict) else None
    return Listing(model, None, length if isinstance(length, int) and not isinstance(length, bool) else None)


async def _post_json(client: httpx.AsyncClient, path: str, body: dict, timeout_s: float) -> dict:
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.post(path, json=body)
    except (httpx.HTTPError, TimeoutError) as e:
        kind, words = describe(e)
        raise RequestFailed(kind, words + (f" after {timeout_s:g} s" if kind == "timeout" else "")) from None
    if response.status_code != 200:
        raise _http_failure(response)
    try:
        reply = response.json()
    except ValueError:
        raise RequestFailed("malformed", f"the reply is not JSON: {response.text.strip()[:80]!r}") from None
    if not isinstance(reply, dict):
        raise RequestFailed("malformed", "the reply is not a JSON object")
    return reply


@dataclass(frozen=True)
class Answer:
    text: str
    seconds: float


def _first_choice(reply: dict) -> dict:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise RequestFailed("malformed", "the reply has no choices")
    return choices[0]


def _usage_tokens(reply: dict) -> Optional[int]:
    usage = reply.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) else None


async def check_completion(client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int,
                           timeout_s: float) -> Answer:
    start = time.monotonic()
    reply = await _post_json(client, "v1/completions", {"model": model, "prompt": prompt, "max_tokens": max_tokens},
                             timeout_s)
    text = _first_choice(reply).get("text")
    if not isinstance(text, str):
        raise RequestFailed("malformed", "choices[0].text is missing")
    if not text.strip():
        raise RequestFailed("empty", f"choices[0].text is empty (finish_reason {_first_choice(reply).get('finish_reason')})")
    return Answer(text, time.monotonic() - start)


async def check_chat(client: httpx.AsyncClient, model: str, max_tokens: int, timeout_s: float) -> Optional[Answer]:
    """The chat endpoint, or None when the server does not serve it (404)."""
    start = time.monotonic()
    body = {"model": model, "messages": [{"role": "user", "content": CHAT_PROMPT}], "max_tokens": max_tokens}
    try:
        reply = await _post_json(client, "v1/chat/completions", body, timeout_s)
    except RequestFailed as e:
        if e.kind == "http_404":
            return None
        raise
    message = _first_choice(reply).get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise RequestFailed("malformed", "choices[0].message.content is missing")
    if not content.strip():
        raise RequestFailed("empty", "choices[0].message.content is empty")
    return Answer(content, time.monotonic() - start)


@dataclass(frozen=True)
class Result:
    """One streamed request of the load. Times in seconds from just before the request was sent."""
    ok: bool
    error: Optional[str] = None  # kind, when not ok
    detail: str = ""
    ttft_s: Optional[float] = None
    latency_s: Optional[float] = None
    output_tokens: int = 0
    tokens_from: Optional[str] = None  # "usage" (the server counted) or "chunks" (we counted)
    bursty: bool = False  # the text arrived in bursts, not as it was decoded (see `is_bursty`)

    @property
    def tokens_per_s(self) -> Optional[float]:
        """Decode speed one user sees once the text flows: tokens after the first, over the time
        after the first. None for a one-token answer (no interval to measure), and for a stream
        that arrived in bursts (the interval measured is the client's, not the server's)."""
        if not self.ok or self.bursty or self.output_tokens < 2 or self.ttft_s is None or self.latency_s is None:
            return None
        streaming = self.latency_s - self.ttft_s
        return (self.output_tokens - 1) / streaming if streaming > 0 else None


def _stream_chunk(line: str) -> Optional[dict]:
    """The JSON of one server-sent `data:` line; None for the end marker. Other lines (comments,
    `event:`, keep-alives) are not data and are skipped by the caller."""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
    except ValueError:
        raise RequestFailed("malformed", f"a streamed event is not JSON: {data[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise RequestFailed("malformed", "a streamed event is not a JSON object")
    if "error" in chunk:
        # TGI and vLLM report a failure after the 200 status line as an event with `error`.
        raise RequestFailed("stream_error", f"the server stopped the stream: {str(chunk['error'])[:120]}")
    return chunk


# Token chunks closer together than this were not decoded apart: 1 ms between tokens is over
# 1,000 tokens/s for one request, beyond any decode step of the GPUs this project serves on (an L4
# decodes a 7B model at tens of tokens/s per request); such gaps come from a buffering proxy or a
# client that read late and got many chunks from one socket read.
BURST_GAP_S = 0.001


def is_bursty(arrivals: list[float]) -> bool:
    """True when most gaps between the token chunks' arrival times are under BURST_GAP_S: the stream
    came in bursts, so its timing is the network's or the client's, not the server's decoding.
    A stream of under 3 chunks has too few gaps to judge."""
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return len(gaps) >= 2 and sum(gap < BURST_GAP_S for gap in gaps) * 2 > len(gaps)


async def stream_completion(client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int,
                            timeout_s: float, usage: bool = True) -> Result:
    """POST /v1/completions with stream=true; TTFT is when the first chunk with text arrives.

    Output tokens: the server's own count from the final `usage` chunk when it sends one (asked
    for with stream_options.include_usage when `usage`; vLLM does), else the number of token
    chunks streamed (TGI streams one token per chunk)."""
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "stream": True}
    if usage:
        body["stream_options"] = {"include_usage": True}
    return await _stream_once(client, body, timeout_s)


@dataclass(frozen=True)
class StreamCheck:
    result: Result
    usage: bool  # whether the load asks for stream_options.include_usage
    refused: Optional[str] = None  # the server's answer to stream_options, when it refused it


async def check_stream(client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int,
                       timeout_s: float) -> StreamCheck:
    """One streamed request before the load, which settles once for the whole run whether the
    server accepts stream_options: only when a request with it gets 400 or 422 and the same request
    without it succeeds. Decided here, not on a load error, so a 400 for another reason (a prompt
    longer than the context) is counted as the error it is and never changes how tokens are counted."""
    result = await stream_completion(client, model, prompt, max_tokens, timeout_s, usage=True)
    if result.ok or result.error not in ("http_400", "http_422"):
        return StreamCheck(result, True)
    without = await stream_completion(client, model, prompt, max_tokens, timeout_s, usage=False)
    if not without.ok:
        return StreamCheck(result, True)  # it was not stream_options: report the first failure
    return StreamCheck(without, False, result.detail)


async def _stream_once(client: httpx.AsyncClient, body: dict, timeout_s: float) -> Result:
    start = time.perf_counter()
    ttft: Optional[float] = None
    chunks, usage_tokens, events, text = 0, None, 0, []
    arrivals: list[float] = []  # when each token chunk arrived, for the burst check
    try:
        async with asyncio.timeout(timeout_s):
            async with client.stream("POST", "v1/completions", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _http_failure(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    events += 1
                    chunk = _stream_chunk(line)
                    if chunk is None:
                        break
                    # vLLM puts "usage": null on every chunk and the count on the last one.
                    usage_tokens = _usage_tokens(chunk) or usage_tokens
                    for choice in chunk.get("choices") or []:
                        piece = choice.get("text") if isinstance(choice, dict) else None
                        if not isinstance(piece, str):
                            continue
                        if piece and ttft is None:
                            ttft = time.perf_counter() - start
                        text.append(piece)
                        # A token chunk: text, or an empty piece mid-stream (part of a multi-byte
                        # character). An empty piece that only carries finish_reason is not a token.
                        if piece or choice.get("finish_reason") is None:
                            chunks += 1
                            arrivals.append(time.perf_counter())
        latency = time.perf_counter() - start
    except RequestFailed as e:
        return Result(False, e.kind, e.detail)
    except (httpx.HTTPError, TimeoutError) as e:
        kind, words = describe(e)
        return Result(False, kind, words + (f" after {timeout_s:g} s" if kind == "timeout" else ""))
    if events == 0:
        return Result(False, "malformed", "no server-sent events in the reply (is stream=true ignored?)")
    if not "".join(text).strip():
        return Result(False, "empty", "the stream carried no text")
    bursty = is_bursty(arrivals)
    if usage_tokens is not None:
        return Result(True, ttft_s=ttft, latency_s=latency, output_tokens=usage_tokens, tokens_from="usage",
                      bursty=bursty)
    return Result(True, ttft_s=ttft, latency_s=latency, output_tokens=chunks, tokens_from="chunks", bursty=bursty)
