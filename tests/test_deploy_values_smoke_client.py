"""smoke/client.py in this process against httpx's MockTransport: the deadlines each request gets, the
bodies the stream_options fallback sends, how chunks are counted, and the failure details. Each test
pins what a surviving mutant of `make mutants MODULE=smoke/client.py` changed (tests/MUTANTS.md);
the end-to-end tests in test_smoke.py run smoke in a child process, which mutmut cannot see."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from smoke import client
from smoke.client import RequestFailed, Result


def sse(*chunks: dict) -> bytes:
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


def text(piece, finish=None) -> dict:
    return {"choices": [{"index": 0, "text": piece, "finish_reason": finish}]}


def talk(handler, call):
    """`call(http)` with an AsyncClient whose requests `handler` answers (async or not)."""
    async def go():
        async with httpx.AsyncClient(base_url="http://fake/", transport=httpx.MockTransport(handler),
                                     timeout=httpx.Timeout(30.0)) as http:
            return await call(http)
    return asyncio.run(go())


def streaming(*chunks: dict):
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse(*chunks), headers={"Content-Type": "text/event-stream"})
    return handle


def slow(seconds: float):
    async def handle(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(seconds)  # MockTransport applies no timeout: only smoke's own deadline ends this
        return httpx.Response(200, content=sse(text("late")), headers={"Content-Type": "text/event-stream"})
    return handle


# --- deadlines -----------------------------------------------------------------------------------------

def test_v1_models_is_asked_with_the_10_s_readiness_deadline_not_the_load_timeout():
    # A proxy that holds /v1/models must not stall the run for the (longer) request timeout.
    seen = []

    def handle(request):
        seen.append((request.url.path, request.extensions["timeout"]))
        return httpx.Response(200, json={"data": [{"id": "m/x"}]})
    assert talk(handle, client.served_model).model == "m/x"
    assert seen == [("/v1/models", {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0})]


def test_health_is_polled_with_the_10_s_deadline():
    seen = []

    def handle(request):
        seen.append((request.url.path, request.extensions["timeout"]))
        return httpx.Response(200)
    ready = talk(handle, lambda h: client.wait_ready(h, 5, lambda *_: None))
    assert ready.status == "/health 200"
    assert seen == [("/health", {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0})]


def test_the_client_carries_the_request_timeout_the_key_and_a_pool_above_the_concurrency():
    async def made(api_key):
        async with client.new_client("http://fake/", api_key, 7.5, 4) as http:
            pool = http._transport._pool  # httpcore's pool (httpx 0.28.1, httpcore 1.0.9: both pinned in requirements-dev.txt)
            return http.timeout, dict(http.headers), pool._max_connections, pool._max_keepalive_connections
    timeout, headers, connections, keepalive = asyncio.run(made("k3y"))
    assert timeout == httpx.Timeout(7.5)  # the load's requests: --timeout, not httpx's 5 s default
    assert headers["authorization"] == "Bearer k3y"
    # Concurrency + 2: every load request has its own connection, kept alive between requests.
    assert (connections, keepalive) == (6, 6)
    _, headers, _, _ = asyncio.run(made(None))
    assert "authorization" not in headers


def test_a_chat_reply_later_than_the_timeout_is_a_timeout_naming_the_seconds():
    with pytest.raises(RequestFailed) as e:
        talk(slow(3), lambda h: client.check_chat(h, "m", 5, 0.2))
    assert (e.value.kind, e.value.detail) == ("timeout", "timed out after 0.2 s")


def test_a_stream_later_than_the_timeout_is_a_timeout_naming_the_seconds():
    result = talk(slow(3), lambda h: client.stream_completion(h, "m", "p", 5, 0.25))
    assert result == Result(False, "timeout", "timed out after 0.25 s")


def test_the_stream_check_has_the_same_deadline():
    check = talk(slow(3), lambda h: client.check_stream(h, "m", "p", 5, 0.2))
    assert (check.result, check.usage, check.refused) == (Result(False, "timeout", "timed out after 0.2 s"), True, None)


def test_a_failure_other_than_a_timeout_carries_no_seconds():
    def refuse(request):
        raise httpx.RemoteProtocolError("peer closed connection", request=request)
    result = talk(refuse, lambda h: client.stream_completion(h, "m", "p", 5, 9))
    assert result == Result(False, "connection", "connection lost (RemoteProtocolError: peer closed connection)")


def test_a_check_that_cannot_connect_carries_no_seconds():
    def refuse(request):
        raise httpx.ConnectError("All connection attempts failed", request=request)
    with pytest.raises(RequestFailed) as e:
        talk(refuse, lambda h: client.check_completion(h, "m", "p", 5, 9))
    assert (e.value.kind, e.value.detail) == ("connection", "cannot connect (All connection attempts failed)")


def test_the_answers_say_how_long_they_took():
    def handle(request):
        return httpx.Response(200, json={"choices": [{"message": {"content": "Use kubectl."}, "text": "Use kubectl."}]})
    chat = talk(handle, lambda h: client.check_chat(h, "m", 5, 9))
    completion = talk(handle, lambda h: client.check_completion(h, "m", "p", 5, 9))
    assert chat.text == "Use kubectl." and 0 <= chat.seconds < 5
    assert completion.text == "Use kubectl." and 0 <= completion.seconds < 5


# --- stream_options: settled once, on the same request ---------------------------------------------------

def test_a_refused_stream_options_is_retried_as_the_same_request_without_it():
    bodies = []

    def handle(request):
        body = json.loads(request.content)
        bodies.append(body)
        if "stream_options" in body:
            return httpx.Response(422, text="unknown field stream_options")
        return httpx.Response(200, content=sse(text("a"), text("b")), headers={"Content-Type": "text/event-stream"})
    check = talk(handle, lambda h: client.check_stream(h, "m/x", "Say hi", 7, 9))
    assert bodies == [
        {"model": "m/x", "prompt": "Say hi", "max_tokens": 7, "stream": True, "stream_options": {"include_usage": True}},
        {"model": "m/x", "prompt": "Say hi", "max_tokens": 7, "stream": True}]
    assert (check.usage, check.refused) == (False, "HTTP 422: unknown field stream_options")
    assert (check.result.ok, check.result.output_tokens, check.result.tokens_from) == (True, 2, "chunks")


def test_a_retry_without_stream_options_that_times_out_reports_the_first_refusal():
    # The retry has the same deadline; when it fails too, stream_options was not the problem.
    async def handle(request):
        if "stream_options" in json.loads(request.content):
            return httpx.Response(400, text="bad request")
        await asyncio.sleep(3)
        return httpx.Response(200, content=sse(text("late")), headers={"Content-Type": "text/event-stream"})
    check = talk(handle, lambda h: client.check_stream(h, "m", "p", 7, 0.2))
    assert (check.result, check.usage, check.refused) == (Result(False, "http_400", "HTTP 400: bad request"), True, None)


# --- counting chunks ---------------------------------------------------------------------------------------

def test_an_empty_piece_mid_stream_is_a_token_but_one_that_only_ends_the_stream_is_not():
    # An empty piece mid-stream is part of a multi-byte character (a token); a last chunk with
    # finish_reason and no text is not. TGI streams one token per chunk.
    mid = talk(streaming(text("a"), text(""), text("b")),
               lambda h: client.stream_completion(h, "m", "p", 5, 9, usage=False))
    assert (mid.ok, mid.output_tokens, mid.tokens_from) == (True, 3, "chunks")
    last = talk(streaming(text("a"), text("b"), text("", "length")),
                lambda h: client.stream_completion(h, "m", "p", 5, 9, usage=False))
    assert (last.ok, last.output_tokens, last.tokens_from) == (True, 2, "chunks")


def test_a_choice_that_is_not_an_object_is_skipped_not_a_crash():
    result = talk(streaming({"choices": ["junk"]}, text("a"), text("b")),
                  lambda h: client.stream_completion(h, "m", "p", 5, 9, usage=False))
    assert (result.ok, result.output_tokens) == (True, 2)


@pytest.mark.parametrize("usage", [None, 5])
def test_a_stream_that_arrives_all_at_once_is_marked_bursty_however_tokens_are_counted(usage):
    # MockTransport hands the whole body over in one read: the chunks arrive microseconds apart.
    chunks = [text("a"), text("b"), text("c"), text("d")]
    if usage:
        chunks.append({"choices": [], "usage": {"completion_tokens": usage}})
    result = talk(streaming(*chunks), lambda h: client.stream_completion(h, "m", "p", 5, 9))
    assert (result.ok, result.bursty, result.tokens_per_s) == (True, True, None)
    assert (result.output_tokens, result.tokens_from) == ((5, "usage") if usage else (4, "chunks"))


def test_a_request_failure_reads_as_its_detail():
    assert str(RequestFailed("timeout", "timed out  after\n 5 s")) == "timed out  after\n 5 s"
    assert RequestFailed("timeout", "timed out  after\n 5 s").detail == "timed out after 5 s"
