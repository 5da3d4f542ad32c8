"""What `make smoke` says and sends, pinned as literals: the exit status and the whole one-line
failure of each kind, the report lines on stdout, the request bodies, the readiness schedule, the
stack discovery and the load's bounds. Mutation testing (issue 17) showed that one-token slips in
smoke/__main__.py, client.py, discovery.py and load.py survived the end-to-end tests, which look for
words; a CI job greps these lines and branches on these statuses, so each is stated here whole.

Fast by design: pure functions where there are some, the stand-in server (tests/fake_llm.py) with
no delay where a request must really be sent, and a fake clock for the readiness back-off."""

from __future__ import annotations

import asyncio
import io
import json
import re
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import httpx
import pytest
from rich.console import Console

import fake_llm
import smoke
from smoke import client, cost, discovery, load, options
from smoke.__main__ import Run, Target, find_target, main, snippet
from smoke.client import RequestFailed, Result

FAST = ["--requests", "4", "--concurrency", "2", "--wait", "10", "--timeout", "10"]
SLEEP = shutil.which("sleep")  # found now: the fake tools run with their bin/ alone on PATH
# The stand-in's reply to every route it fails (tests/fake_llm.py `_error`), as the body in a detail.
FAKE_503 = 'HTTP 503: {"error": "fake error 503", "error_type": "fake"}'
FAKE_422 = 'HTTP 422: {"error": "fake error 422", "error_type": "fake"}'


@pytest.fixture
def run_main(monkeypatch, capsys):
    """`python -m smoke ARGS` in this process: (exit status, stdout lines, the stderr `smoke:` lines)."""
    def run(*args: str, api_key: str | None = None) -> tuple[int, list[str], list[str]]:
        with monkeypatch.context() as m:
            m.delenv("API_KEY", raising=False)
            if api_key is not None:
                m.setenv("API_KEY", api_key)
            capsys.readouterr()
            code = main(list(args))
            out, err = capsys.readouterr()
        return code, out.splitlines(), [line for line in err.splitlines() if line.startswith("smoke:")]
    return run


def closed_url() -> str:
    """A loopback URL nothing listens on."""
    closed = fake_llm.FakeLLM(fake_llm.Behaviour())
    url = closed.url
    closed.server_close()
    return url


def quiet() -> Console:
    return Console(file=io.StringIO(), width=110, highlight=False, markup=False)


def a_run(monkeypatch, url: str = "http://127.0.0.1:9", target: Target | None = None,
          api_key: str | None = None, *args: str) -> Run:
    if api_key is None:
        monkeypatch.delenv("API_KEY", raising=False)
    else:
        monkeypatch.setenv("API_KEY", api_key)
    opts = options.parse(["--url", url, *args])
    return Run(opts, cost.ladder_from_stack("dev"), target or Target(opts.url, None, None), quiet(), quiet())


# --- __main__: the failure line of each kind, and its exit status --------------------------------------

def test_an_auth_failure_without_a_key_says_to_set_one_and_exits_2(monkeypatch):
    run = a_run(monkeypatch)
    e = run._failed("models", RequestFailed("auth", "HTTP 401"))
    assert (e.code, e.message) == (2, "the endpoint needs an API key (HTTP 401); set API_KEY to the stack's apiKey")
    assert run.checks == {"models": "failed: auth"}


def test_an_auth_failure_with_a_key_says_it_was_rejected_and_exits_2(monkeypatch):
    run = a_run(monkeypatch, api_key="sk-wrong")
    e = run._failed("completions", RequestFailed("auth", "HTTP 403"))
    assert (e.code, e.message) == (2, "the API key was rejected (HTTP 403); check API_KEY against the stack's apiKey")


def test_a_connection_failure_in_a_check_says_check_the_url_and_exits_2(monkeypatch):
    # Unreachable is a usage problem (2), not a wrong answer (1): CI tells them apart.
    run = a_run(monkeypatch)
    e = run._failed("completions", RequestFailed("connection", "connection refused"))
    assert (e.code, e.message) == (2, "completions check: connection refused; check the URL (--url) and that the "
                                      "server runs")
    assert run.checks == {"completions": "failed: connection"}


def test_a_404_says_the_url_must_be_the_servers_root_without_its_password_and_exits_1(monkeypatch):
    run = a_run(monkeypatch, "http://u:pw-hidden@127.0.0.1:9/llm")
    e = run._failed("completions", RequestFailed("http_404", "HTTP 404: not found"))
    assert (e.code, e.message) == (1, "completions check failed: HTTP 404: not found; the server has no "
                                      "/v1/completions under http://127.0.0.1:9/llm: --url must be the server's "
                                      "root (smoke adds /health and /v1/...)")


def test_a_timeout_says_raise_timeout_or_check_the_logs_and_exits_1(monkeypatch):
    run = a_run(monkeypatch)
    e = run._failed("chat", RequestFailed("timeout", "timed out after 0.5 s"))
    assert (e.code, e.message) == (1, "chat check failed: timed out after 0.5 s; raise --timeout, or check the "
                                      "server's logs")
    assert run.checks == {"chat": "failed: timeout"}


def test_any_other_failure_says_check_the_servers_logs_and_exits_1(monkeypatch):
    run = a_run(monkeypatch)
    e = run._failed("stream", RequestFailed("http_500", "HTTP 500: boom"))
    assert (e.code, e.message) == (1, "stream check failed: HTTP 500: boom; check the server's logs")


def test_a_stack_targets_failure_names_the_deployments_logs_in_its_namespace(monkeypatch):
    target = Target("http://127.0.0.1:9", "tgi", "llm", from_stack=True)
    run = a_run(monkeypatch, target=target)
    e = run._failed("completions", RequestFailed("timeout", "timed out after 2 s"))
    assert e.message == ("completions check failed: timed out after 2 s; raise --timeout, or check the server's "
                         "logs (kubectl -n llm logs deployment/llm)")


def test_the_logs_hint_of_each_kind_of_target():
    assert Target("http://h:1", None, None).logs_hint == "check the server's logs"
    assert Target("http://h:1", None, "serving", from_stack=True).logs_hint == \
        "check the server's logs (kubectl -n serving logs deployment/llm)"
    # A stack without a namespace output: kubectl's current namespace.
    assert Target("http://h:1", None, None, from_stack=True).logs_hint == \
        "check the server's logs (kubectl logs deployment/llm)"


def test_an_unreachable_url_exits_2_with_the_whole_line(run_main):
    url = closed_url()
    code, _, failures = run_main("--url", url, *FAST, "--wait", "0")
    assert code == 2
    assert failures == ["smoke: cannot reach the endpoint after 0 s: connection refused; check the URL (--url) "
                        "and that the server runs, or wait longer with --wait"]


def test_a_server_never_ready_exits_1_with_the_logs_hint_before_wait(llm, run_main):
    code, _, failures = run_main("--url", llm(health_failures=10**6).url, *FAST, "--wait", "0")
    assert code == 1
    assert failures == ["smoke: not ready after 0 s (/health last: HTTP 503); check the server's logs, "
                        "or wait longer with --wait"]


def test_an_empty_completion_exits_1_naming_its_finish_reason(llm, run_main):
    code, _, failures = run_main("--url", llm(empty=True).url, *FAST)
    assert code == 1
    assert failures == ["smoke: completions check failed: choices[0].text is empty (finish_reason length); "
                        "check the server's logs"]


def test_a_missing_key_exits_2_with_the_whole_line(llm, run_main):
    code, _, failures = run_main("--url", llm(api_key="k").url, *FAST)
    assert code == 2
    assert failures == ["smoke: the endpoint needs an API key (HTTP 401); set API_KEY to the stack's apiKey"]


def test_an_interruption_before_any_stage_exits_130_saying_interrupted(monkeypatch, run_main):
    def interrupted(*_):
        raise KeyboardInterrupt
    monkeypatch.setattr(cost, "ladder_from_stack", interrupted)
    assert run_main("--url", "http://127.0.0.1:9") == (130, [], ["smoke: interrupted"])


def test_an_interruption_while_waiting_exits_130_saying_nothing_was_sent(monkeypatch, llm, run_main):
    async def interrupted(*_, **__):
        raise KeyboardInterrupt
    monkeypatch.setattr(client, "wait_ready", interrupted)
    code, _, failures = run_main("--url", llm().url, *FAST)
    assert (code, failures) == (130, ["smoke: interrupted while waiting for /health (0 s); nothing was sent to "
                                      "the model"])


def test_a_bug_is_one_line_with_exit_2_unless_smoke_debug_asks_for_the_traceback(monkeypatch, run_main):
    def broken(*_):
        raise ValueError("boom")
    monkeypatch.setattr(cost, "ladder_from_stack", broken)
    monkeypatch.delenv("SMOKE_DEBUG", raising=False)
    assert run_main("--url", "http://127.0.0.1:9") == (
        2, [], ["smoke: unexpected ValueError: boom (SMOKE_DEBUG=1 shows the traceback)"])
    monkeypatch.setenv("SMOKE_DEBUG", "1")
    with pytest.raises(ValueError, match="^boom$"):
        main(["--url", "http://127.0.0.1:9"])


def test_sigterm_during_the_load_in_this_process_reports_the_answers_and_the_requests_in_flight(llm, run_main, tmp_path):
    # The whole path in-process (where mutmut sees it; the `python -m smoke` test in test_smoke.py
    # runs in a child): the signal cancels the load, the answers recorded so far are reported.
    # Streams: 1 the check, 2-3 the first two load requests (fast), 4 on wait 30 s for a token.
    server = llm(first_token_delay=30, slow_from_stream=4)
    report_path = tmp_path / "interrupted.json"
    running = threading.Event()

    def interrupt_once_two_are_stuck():
        deadline = time.monotonic() + 20
        while server.seen.streams < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        if running.is_set() and server.seen.streams == 5:
            os.kill(os.getpid(), signal.SIGTERM)

    # Should the signal come after main() returned, it must not end the test session.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        running.set()
        sender = threading.Thread(target=interrupt_once_two_are_stuck, daemon=True)
        sender.start()
        code, _, failures = run_main("--url", server.url, "--requests", "6", "--concurrency", "2", "--wait", "10",
                                     "--json", str(report_path))
        running.clear()
        sender.join(timeout=30)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (code, failures) == (130, ["smoke: interrupted during the load: 2 of 6 requests answered, 2 in flight; "
                                      "the load stopped where it was"])
    report = json.loads(report_path.read_text())
    assert (report["requests"], report["succeeded"], report["errors"]) == (4, 2, {"interrupted": 2})
    assert report["ok"] is False and report["output_tokens_per_s"] is None


# --- __main__: what an interruption says at each stage -------------------------------------------------

def test_interrupted_while_waiting_says_for_how_long_and_that_nothing_was_sent(monkeypatch):
    run = a_run(monkeypatch)
    run._enter("readiness")
    run.stage_since -= 12.4  # 12.4 s ago: whole seconds in the line
    assert run.interrupted() == "interrupted while waiting for /health (12 s); nothing was sent to the model"


def test_interrupted_during_the_checks_says_no_load_was_sent(monkeypatch):
    run = a_run(monkeypatch)
    run._enter("checks")
    assert run.interrupted() == "interrupted during the correctness checks; no load was sent"


def test_interrupted_during_the_load_counts_answers_and_requests_in_flight(monkeypatch):
    run = a_run(monkeypatch, "http://127.0.0.1:9", None, None, "--requests", "20")
    run._enter("load")
    run.progress.sent = 5
    run.progress.results = [Result(True, ttft_s=0.1, latency_s=0.5, output_tokens=3),
                            Result(False, "http_503", "HTTP 503")]
    assert run.interrupted() == ("interrupted during the load: 2 of 20 requests answered, 3 in flight; the load "
                                 "stopped where it was")
    # The report keeps what was sent: 2 answered and 3 sent without an answer.
    assert (run.summary.requests, run.summary.succeeded, run.summary.errors) == (
        5, 1, {"http_503": 1, "interrupted": 3})


@pytest.mark.parametrize("stage", ["starting", "report"])
def test_interrupted_outside_a_stage_with_requests_is_one_word(monkeypatch, stage):
    run = a_run(monkeypatch)
    run._enter(stage)
    assert run.interrupted() == "interrupted"
    assert run.summary is None


def test_a_new_run_starts_in_the_starting_stage(monkeypatch):
    assert a_run(monkeypatch).stage == "starting"


# --- __main__: snippet ----------------------------------------------------------------------------------

def test_snippet_keeps_up_to_70_characters_on_one_line_quoted():
    assert snippet("Deploy  it\n with\tkubectl.") == "'Deploy it with kubectl.'"
    assert snippet("x" * 70) == repr("x" * 70)


def test_snippet_cuts_past_70_to_69_and_an_ellipsis():
    assert snippet("x" * 71) == repr("x" * 69 + "…")
    assert snippet("ab" * 5, width=6) == "'ababa…'"


# --- __main__: the report lines of a healthy run --------------------------------------------------------

SECONDS_1 = r"\d+\.\d"  # times vary: the format of each is pinned, not its value
SECONDS_2 = r"\d+\.\d\d"


def lines_starting(lines: list[str], prefix: str) -> list[str]:
    return [line for line in lines if line.startswith(prefix)]


def assert_line(lines: list[str], *parts: str) -> None:
    """Exactly one line made of `parts`: literal text, with the SECONDS_ patterns as they are."""
    pattern = "".join(p if p in (SECONDS_1, SECONDS_2) else re.escape(p) for p in parts)
    matching = [line for line in lines if re.fullmatch(pattern, line)]
    assert len(matching) == 1, (pattern, lines)


def test_a_healthy_run_prints_each_check_on_its_own_line(llm, run_main):
    server = llm()
    code, out, failures = run_main("--url", server.url, *FAST)
    assert (code, failures) == (0, [])
    assert out[0] == f"Smoke test of {server.url} (stack dev)"
    assert_line(out, "  ready        /health 200 after ", SECONDS_1, " s")
    assert out[2] == f"  model        {fake_llm.MODEL} (from /v1/models)"
    assert_line(out, "  completions  ok in ", SECONDS_2, " s: 'Deploy it with kubectl apply.'")
    assert_line(out, "  chat         ok in ", SECONDS_2, " s: 'Deploy it with kubectl apply.'")
    assert_line(out, "  stream       ok in ", SECONDS_2, " s, tokens counted from the chunks (no usage sent)")
    # 4 requests of the stand-in's 6 tokens each, one chunk per token.
    assert_line(out, "  24 output tokens in ", SECONDS_1, " s, counted from streamed chunks (one token each); "
                "longest answer 6 of 128 asked")
    assert out[-1] == "  GPU nodes only (system pool and control plane extra); assumes the endpoint serves this stack"


def test_the_report_names_the_engine_model_source_and_the_servers_usage_count(llm, run_main):
    server = llm(usage_tokens=42)
    code, out, _ = run_main("--url", server.url, *FAST, "--engine", "vllm", "--model", "my/model")
    assert code == 0
    assert out[0] == f"Smoke test of {server.url} (stack dev, engine vllm)"
    assert out[2] == "  model        my/model (from --model)"
    assert_line(out, "  stream       ok in ", SECONDS_2, " s, tokens counted by the server (usage)")
    assert_line(out, "  168 output tokens in ", SECONDS_1, " s, counted from the server's usage counts; "
                "longest answer 42 of 128 asked")
    assert {b["model"] for b in server.seen.bodies} == {"my/model"}


def test_the_report_says_chat_was_skipped_and_stream_options_refused(llm, run_main):
    code, out, _ = run_main("--url", llm(chat_status=404, reject_stream_options=True).url, *FAST)
    assert code == 0
    assert lines_starting(out, "  chat ") == [
        "  chat         skipped (404: the server does not serve /v1/chat/completions)"]
    assert_line(out, "  stream       ok in ", SECONDS_2,
                f" s, tokens counted from the chunks (stream_options refused: {FAKE_422})")


def test_a_model_line_longer_than_the_console_stays_one_line(llm, run_main):
    # CI logs are 110 columns here (smoke.__main__.PLAIN_WIDTH); a wrapped line splits what a job greps.
    model = "org/" + "m" * 120
    code, out, _ = run_main("--url", llm().url, *FAST, "--model", model)
    assert code == 0
    assert out[2] == f"  model        {model} (from --model)"


def test_a_server_without_health_is_reported_ready_by_its_404(llm, run_main):
    code, out, _ = run_main("--url", llm(health_status=404).url, *FAST)
    assert code == 0
    assert_line(out, "  ready        no /health (404) after ", SECONDS_1, " s")


def test_failed_load_requests_are_one_line_counting_them_with_the_first_detail(llm, run_main):
    # Streams 1 (the check) to 7: every second one answers 503, so 3 of the load's 6.
    code, out, failures = run_main("--url", llm(fail_every=2).url, "--requests", "6", "--concurrency", "2")
    assert code == 1
    assert failures == [f"smoke: 3 of 6 load requests failed (http_503 3; first http_503: {FAKE_503}); "
                        "check the server's logs"]
    assert out[-1] == ("  figures and cost withheld: with failed requests in it, a load's timings are the "
                       "survivors' and its rate counts the failures' time")


def test_load_timeouts_add_raise_timeout_or_lower_concurrency(llm, run_main):
    server = llm(first_token_delay=30, slow_from_stream=2)  # the check is fast, the load waits
    code, _, failures = run_main("--url", server.url, "--requests", "2", "--concurrency", "2", "--timeout", "0.2")
    assert code == 1
    assert failures == ["smoke: 2 of 2 load requests failed (timeout 2; first timeout: timed out after 0.2 s); "
                        "raise --timeout or lower --concurrency, or check the server's logs"]


# --- client: pure functions ----------------------------------------------------------------------------

def test_a_data_line_is_its_json_object_with_or_without_the_space():
    assert client._stream_chunk('data: {"choices": []}') == {"choices": []}
    assert client._stream_chunk('data:{"a": 1}  ') == {"a": 1}


def test_the_done_marker_ends_the_stream():
    assert client._stream_chunk("data: [DONE]") is None
    assert client._stream_chunk("data:[DONE]") is None


def test_a_data_line_that_is_not_json_is_malformed_with_its_first_80_characters():
    with pytest.raises(RequestFailed) as e:
        client._stream_chunk("data: not json")
    assert (e.value.kind, e.value.detail) == ("malformed", "a streamed event is not JSON: 'not json'")
    with pytest.raises(RequestFailed) as e:
        client._stream_chunk("data: " + "y" * 100)
    assert e.value.detail == f"a streamed event is not JSON: {'y' * 80!r}"


def test_a_data_line_that_is_json_but_no_object_is_malformed():
    with pytest.raises(RequestFailed) as e:
        client._stream_chunk("data: [1, 2]")
    assert (e.value.kind, e.value.detail) == ("malformed", "a streamed event is not a JSON object")


def test_an_error_event_after_the_200_is_a_stream_error_cut_at_120_characters():
    with pytest.raises(RequestFailed) as e:
        client._stream_chunk('data: {"error": "CUDA out of memory"}')
    assert (e.value.kind, e.value.detail) == ("stream_error", "the server stopped the stream: CUDA out of memory")
    with pytest.raises(RequestFailed) as e:
        client._stream_chunk(json.dumps({"error": "z" * 200}).join(["data: ", ""]))
    assert e.value.detail == "the server stopped the stream: " + "z" * 120


def test_a_gap_of_exactly_one_millisecond_is_a_decode_step_not_a_burst():
    # The threshold is strict: 1 ms is 1,000 tokens/s, still a (very fast) decode.
    assert client.BURST_GAP_S == 0.001
    assert client.is_bursty([0.0, 0.001, 0.002]) is False
    assert client.is_bursty([0.0, 0.0009, 0.0018]) is True


def test_a_stream_needs_two_gaps_to_be_judged_bursty():
    assert client.is_bursty([]) is False
    assert client.is_bursty([5.0]) is False
    assert client.is_bursty([5.0, 5.0]) is False  # one gap, however small
    assert client.is_bursty([5.0, 5.0, 5.0]) is True  # two gaps, both nothing


def test_a_stream_is_bursty_only_when_over_half_its_gaps_are():
    assert client.is_bursty([0.0, 0.0, 1.0]) is False  # 1 of 2
    assert client.is_bursty([0.0, 0.0, 0.0, 1.0]) is True  # 2 of 3
    assert client.is_bursty([0.0, 0.0, 1.0, 1.0, 2.0]) is False  # 2 of 4


def test_per_request_rate_is_tokens_after_the_first_over_the_time_after_it():
    assert Result(True, ttft_s=0.5, latency_s=1.0, output_tokens=2).tokens_per_s == 2.0  # the least: 2 tokens
    assert Result(True, ttft_s=0.25, latency_s=1.25, output_tokens=11).tokens_per_s == 10.0


@pytest.mark.parametrize("result", [
    Result(True, ttft_s=0.5, latency_s=1.0, output_tokens=1),  # one token: no interval
    Result(True, ttft_s=0.5, latency_s=1.0, output_tokens=0),
    Result(True, ttft_s=0.5, latency_s=1.0, output_tokens=9, bursty=True),  # the client's timing
    Result(True, ttft_s=0.5, latency_s=0.5, output_tokens=9),  # no time after the first token
    Result(True, ttft_s=0.6, latency_s=0.5, output_tokens=9),  # clocks that disagree
    Result(True, ttft_s=None, latency_s=1.0, output_tokens=9),
    Result(True, ttft_s=0.5, latency_s=None, output_tokens=9),
    Result(False, "timeout", "timed out", ttft_s=0.5, latency_s=1.0, output_tokens=9),
], ids=["1-token", "0-tokens", "bursty", "zero-time", "negative-time", "no-ttft", "no-latency", "failed"])
def test_per_request_rate_is_unknown_when_there_is_no_decode_interval_to_measure(result):
    assert result.tokens_per_s is None


def test_auth_failures_are_usage_errors_saying_what_to_do_with_api_key():
    assert (client.auth_failure(401, False).code, client.auth_failure(401, False).message) == (
        2, "the endpoint needs an API key (HTTP 401); set API_KEY to the stack's apiKey")
    assert (client.auth_failure(403, True).code, client.auth_failure(403, True).message) == (
        2, "the API key was rejected (HTTP 403); check API_KEY against the stack's apiKey")


def test_an_http_failure_is_kind_http_status_with_the_body_cut_at_200():
    request = httpx.Request("POST", "http://h/v1/completions")
    failure = client._http_failure(httpx.Response(503, text="  overloaded \n", request=request))
    assert (failure.kind, failure.detail) == ("http_503", "HTTP 503: overloaded")
    assert client._http_failure(httpx.Response(500, text="", request=request)).detail == "HTTP 500"
    assert client._http_failure(httpx.Response(400, text="b" * 300, request=request)).detail == "HTTP 400: " + "b" * 200
    for status in (401, 403):
        failure = client._http_failure(httpx.Response(status, text="no", request=request))
        assert (failure.kind, failure.detail) == ("auth", f"HTTP {status}")


def test_transport_errors_are_described_by_kind():
    request = httpx.Request("GET", "http://h/health")
    refused = httpx.ConnectError("All connection attempts failed", request=request)
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert client.describe(refused) == ("connection", "connection refused")
    assert client.describe(httpx.ConnectError("Name or service not known", request=request)) == (
        "connection", "cannot connect (Name or service not known)")
    assert client.describe(httpx.ReadTimeout("", request=request)) == ("timeout", "timed out")
    assert client.describe(TimeoutError()) == ("timeout", "timed out")
    assert client.describe(httpx.RemoteProtocolError("peer closed", request=request)) == (
        "connection", "connection lost (RemoteProtocolError: peer closed)")
    assert client.describe(httpx.ReadError("", request=request)) == ("connection", "connection lost (ReadError)")
    assert client.describe(ValueError("odd")) == ("error", "ValueError: odd")


def test_a_request_failures_detail_is_one_line():
    assert RequestFailed("x", "a\n  b\tc").detail == "a b c"


# --- client: what is sent, against the stand-in ---------------------------------------------------------

def talk(server: fake_llm.FakeLLM, call, api_key: str | None = None, timeout_s: float = 10):
    async def go():
        async with client.new_client(server.url if server else closed_url(), api_key, timeout_s, 2) as http:
            return await call(http)
    return asyncio.run(go())


def test_the_completion_check_sends_model_prompt_and_max_tokens_only(llm):
    server = llm()
    answer = talk(server, lambda h: client.check_completion(h, "m/x", "Say hi", 3, 10))
    assert server.seen.paths == ["/v1/completions"]
    assert server.seen.bodies == [{"model": "m/x", "prompt": "Say hi", "max_tokens": 3}]
    assert answer.text == "Deploy it with"


def test_the_chat_check_sends_one_user_message_with_the_fixed_question(llm):
    server = llm()
    talk(server, lambda h: client.check_chat(h, "m/x", 5, 10))
    assert server.seen.paths == ["/v1/chat/completions"]
    assert server.seen.bodies == [{"model": "m/x", "messages": [
        {"role": "user", "content": "How do I deploy a container on Kubernetes? Answer in one sentence."}],
        "max_tokens": 5}]


def test_a_chat_route_that_is_not_served_is_no_answer_not_a_failure(llm):
    assert talk(llm(chat_status=404), lambda h: client.check_chat(h, "m", 5, 10)) is None


def test_a_streamed_request_asks_for_the_servers_usage_unless_told_not_to(llm):
    server = llm(usage_tokens=42)
    with_usage = talk(server, lambda h: client.stream_completion(h, "m/x", "p", 4, 10))
    without = talk(server, lambda h: client.stream_completion(h, "m/x", "p", 4, 10, usage=False))
    assert server.seen.bodies == [
        {"model": "m/x", "prompt": "p", "max_tokens": 4, "stream": True, "stream_options": {"include_usage": True}},
        {"model": "m/x", "prompt": "p", "max_tokens": 4, "stream": True}]
    assert (with_usage.ok, with_usage.output_tokens, with_usage.tokens_from) == (True, 42, "usage")
    # Without the server's count: one token per chunk, and the stand-in streams 4 of them.
    assert (without.ok, without.output_tokens, without.tokens_from) == (True, 4, "chunks")
    assert 0 <= with_usage.ttft_s <= with_usage.latency_s


def test_the_api_key_goes_as_a_bearer_token(llm):
    server = llm(api_key="sk-1")
    talk(server, lambda h: client.check_completion(h, "m", "p", 1, 10), api_key="sk-1")
    assert server.seen.auth == ["Bearer sk-1"]


def test_streams_that_fail_are_results_with_a_kind_and_a_detail(llm):
    failed = talk(llm(stream_status=503), lambda h: client.stream_completion(h, "m", "p", 4, 10))
    assert (failed.ok, failed.error, failed.detail) == (False, "http_503", FAKE_503)
    garbled = talk(llm(malformed=True), lambda h: client.stream_completion(h, "m", "p", 4, 10))
    assert (garbled.ok, garbled.error, garbled.detail) == (False, "malformed",
                                                           "a streamed event is not JSON: 'not json'")
    empty = talk(llm(empty=True), lambda h: client.stream_completion(h, "m", "p", 4, 10))
    assert (empty.ok, empty.error, empty.detail) == (False, "empty", "the stream carried no text")


def test_a_stream_cut_by_the_timeout_says_after_how_many_seconds(llm):
    slow = talk(llm(first_token_delay=30), lambda h: client.stream_completion(h, "m", "p", 4, 0.2))
    assert (slow.ok, slow.error, slow.detail) == (False, "timeout", "timed out after 0.2 s")


def test_checks_that_fail_raise_with_a_kind_and_a_detail(llm):
    with pytest.raises(RequestFailed) as e:
        talk(llm(malformed=True), lambda h: client.check_completion(h, "m", "p", 4, 10))
    assert (e.value.kind, e.value.detail) == ("malformed", "the reply is not JSON: '<html>not json</html>'")
    with pytest.raises(RequestFailed) as e:
        talk(llm(empty=True), lambda h: client.check_chat(h, "m", 4, 10))
    assert (e.value.kind, e.value.detail) == ("empty", "choices[0].message.content is empty")
    with pytest.raises(RequestFailed) as e:
        talk(llm(reply_delay=30), lambda h: client.check_completion(h, "m", "p", 4, 0.2))
    assert (e.value.kind, e.value.detail) == ("timeout", "timed out after 0.2 s")


def test_stream_options_are_dropped_only_when_refused_and_the_retry_works(llm):
    server = llm(reject_stream_options=True)
    check = talk(server, lambda h: client.check_stream(h, "m", "p", 4, 10))
    assert (check.result.ok, check.usage, check.refused) == (True, False, FAKE_422)
    assert ["stream_options" in b for b in server.seen.bodies] == [True, False]


def test_a_stream_failing_for_another_reason_keeps_stream_options_and_is_not_retried(llm):
    server = llm(stream_status=503)
    check = talk(server, lambda h: client.check_stream(h, "m", "p", 4, 10))
    assert (check.result.error, check.usage, check.refused) == ("http_503", True, None)
    assert len(server.seen.bodies) == 1


def test_the_model_listing_gives_the_first_id_and_vllms_context_length(llm):
    assert talk(llm(), client.served_model) == client.Listing(fake_llm.MODEL, None, None)
    assert talk(llm(max_model_len=4096), client.served_model) == client.Listing(fake_llm.MODEL, None, 4096)
    assert talk(llm(max_model_len=True), client.served_model) == client.Listing(fake_llm.MODEL, None, None)


def test_a_model_listing_that_fails_says_why_and_an_auth_failure_raises(llm):
    assert talk(llm(models=False), client.served_model) == client.Listing(None, "HTTP 404")
    assert talk(None, client.served_model) == client.Listing(None, "connection refused")
    with pytest.raises(RequestFailed) as e:
        talk(llm(models_status=403), client.served_model)
    assert (e.value.kind, e.value.detail) == ("auth", "HTTP 403")


# --- client: readiness ----------------------------------------------------------------------------------

class FakeClock:
    """Replaces client's `time` and `asyncio.sleep`: sleeping moves the clock, so a long wait is instant."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(client, "time", types.SimpleNamespace(monotonic=fake.monotonic, perf_counter=time.perf_counter))
    monkeypatch.setattr(client, "asyncio", types.SimpleNamespace(sleep=fake.sleep, timeout=asyncio.timeout))
    return fake


def wait(server, wait_s: float, **kwargs):
    statuses: list[tuple[str, float]] = []
    result = talk(server, lambda h: client.wait_ready(h, wait_s, lambda s, t: statuses.append((s, t)), **kwargs))
    return result, statuses


def test_readiness_polls_back_off_from_a_quarter_second_doubling_to_five(llm, clock):
    # A cold start takes minutes: fast first polls for a warm server, then one every 5 s at most,
    # and the last sleep ends exactly at the wait's end.
    with pytest.raises(smoke.SmokeError) as e:
        wait(llm(health_failures=10**6), 20)
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 2.25]
    assert (e.value.code, e.value.message) == (1, "not ready after 20 s (/health last: HTTP 503); or wait longer "
                                                  "with --wait")


def test_readiness_reports_each_poll_and_ends_at_the_first_200(llm, clock):
    server = llm(health_failures=2)
    ready, statuses = wait(server, 60)
    assert statuses == [("HTTP 503", 0.0), ("HTTP 503", 0.25)]
    assert ready == client.Readiness("/health 200", 0.75)
    assert server.seen.paths == ["/health"] * 3


def test_readiness_takes_a_404_as_no_health_route(llm, clock):
    assert wait(llm(health_status=404), 60)[0] == client.Readiness("no /health (404)", 0.0)


def test_readiness_stops_at_once_on_a_rejected_key(llm, clock):
    with pytest.raises(smoke.SmokeError) as e:
        wait(llm(api_key="k"), 60, api_key_set=True)
    assert (e.value.code, e.value.message) == (2, "the API key was rejected (HTTP 401); check API_KEY against the "
                                                  "stack's apiKey")
    assert clock.sleeps == []


def test_readiness_that_never_got_an_answer_is_unreachable_exit_2(clock):
    with pytest.raises(smoke.SmokeError) as e:
        wait(None, 1)
    assert (e.value.code, e.value.message) == (2, "cannot reach the endpoint after 1 s: connection refused; check "
                                                  "the URL (--url) and that the server runs, or wait longer with "
                                                  "--wait")


def test_a_port_forward_not_up_yet_is_waited_for_and_its_words_shown(llm, clock):
    calls = []

    def pending():
        calls.append(1)
        if len(calls) < 3:
            raise discovery.NotYet("port-forward: pod is pending")
    ready, statuses = wait(llm(), 60, before_poll=pending)
    assert statuses == [("port-forward: pod is pending", 0.0), ("port-forward: pod is pending", 0.25)]
    assert ready.status == "/health 200"


def test_readiness_hint_goes_before_or_wait_longer(llm, clock):
    with pytest.raises(smoke.SmokeError) as e:
        wait(llm(health_failures=10**6), 0, hint="check the server's logs (kubectl -n llm logs deployment/llm), ")
    assert e.value.message == ("not ready after 0 s (/health last: HTTP 503); check the server's logs (kubectl -n "
                               "llm logs deployment/llm), or wait longer with --wait")


# --- discovery --------------------------------------------------------------------------------------------

def test_the_stacks_cluster_ip_endpoint_is_service_namespace_and_port():
    # The form components/serving/inference_server.py exports for exposure "cluster-ip".
    assert discovery.cluster_ip_service("http://llm-service.llm.svc.cluster.local:8080") == ("llm-service", "llm", 8080)
    assert discovery.cluster_ip_service("http://llm.serving-2.svc.cluster.local:80/") == ("llm", "serving-2", 80)
    assert discovery.cluster_ip_service("https://llm.llm.svc.cluster.local:443") == ("llm", "llm", 443)


@pytest.mark.parametrize("endpoint", [
    "http://34.90.1.2:80",  # a load balancer: reachable as it is
    "http://llm.llm.svc.cluster.local",  # no port
    "http://llm.llm.svc.cluster.local:8080/v1",  # a path
    "http://llm.llm.svc.cluster.local.example.com:8080",
    "tcp://llm.llm.svc.cluster.local:8080",
    "http://llm.llm.svc.cluster.local:8080x",
    "xhttp://llm.llm.svc.cluster.local:8080",
])
def test_other_endpoints_are_not_cluster_ip_services(endpoint):
    assert discovery.cluster_ip_service(endpoint) is None


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def refused(forward: discovery.PortForward) -> pytest.ExceptionInfo:
    """The SmokeError of forward.ensure(); the forward is closed either way."""
    try:
        with pytest.raises(smoke.SmokeError) as e:
            forward.ensure()
    finally:
        forward.close()
    return e


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """A bin/ on PATH alone, for fake `pulumi` and `kubectl` shell scripts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_stack_outputs_are_read_from_pulumi_stack_output_json(tools, tmp_path):
    argv = tmp_path / "argv"
    fake_tool(tools, "pulumi", f'echo "$@" > {argv}\necho \'{{"endpoint": "http://1.2.3.4:80", '
              '"namespace": "llm", "clusterName": "llm-serving-prod", "engine": "vllm", "kubeconfig": "[secret]"}\'\n')
    assert discovery.stack_outputs("prod") == discovery.StackOutputs("http://1.2.3.4:80", "llm", "llm-serving-prod",
                                                                     "vllm")
    assert argv.read_text() == "stack output --json --stack prod\n"  # never --show-secrets


def test_stack_outputs_without_pulumi_say_pass_url(tools):
    with pytest.raises(smoke.SmokeError) as e:
        discovery.stack_outputs("dev")
    assert (e.value.code, e.value.message) == (2, "no --url and no Pulumi CLI on PATH to read the stack outputs: "
                                                  "pass --url http://HOST:PORT (make smoke URL=...) or install the "
                                                  "Pulumi CLI")


def test_a_failing_pulumi_is_quoted_by_its_last_line(tools):
    fake_tool(tools, "pulumi", "echo 'warning: x' >&2\necho 'error: no stack named dev found' >&2\nexit 255\n")
    with pytest.raises(smoke.SmokeError) as e:
        discovery.stack_outputs("dev")
    assert (e.value.code, e.value.message) == (2, "`pulumi stack output --stack dev` failed: error: no stack named "
                                                  "dev found; check the stack name (--stack) and `pulumi login`, or "
                                                  "pass --url")


@pytest.mark.parametrize("printed, message", [
    ("{}", "stack dev has no `endpoint` output; has `pulumi up` finished? Or pass --url"),
    ("not json", "stack dev has no `endpoint` output; has `pulumi up` finished? Or pass --url"),
    ('{"endpoint": ""}', "stack dev output endpoint='' is not a URL yet; run `pulumi up` (or `pulumi refresh`) "
                         "again, or pass --url"),
    ('{"endpoint": "34.1.2.3:80"}', "stack dev output endpoint='34.1.2.3:80' is not a URL yet; run `pulumi up` "
                                    "(or `pulumi refresh`) again, or pass --url"),
])
def test_stack_outputs_without_a_url_endpoint_are_refused(tools, printed, message):
    fake_tool(tools, "pulumi", f"echo '{printed}'\n")
    with pytest.raises(smoke.SmokeError) as e:
        discovery.stack_outputs("dev")
    assert (e.value.code, e.value.message) == (2, message)


def test_the_kube_context_is_gcloud_get_credentials_naming(tmp_path):
    shutil.copy(Path(__file__).resolve().parents[1] / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.t.yaml").write_text("config:\n  gcp:project: acme\n  gke-llm-serving:location: us-central1\n")
    assert discovery.kube_context("t", "c1", root=tmp_path) == "gke_acme_us-central1_c1"
    assert discovery.kube_context("t", None, root=tmp_path) is None  # no clusterName output
    assert discovery.kube_context("nosuchstack", "c1", root=tmp_path) is None  # no stack file: current context


def test_the_port_forward_command_targets_the_service_on_a_free_local_port(tools):
    fake_tool(tools, "kubectl", "exit 1\n")
    forward = discovery.PortForward("llm-service", "llm", 8080, "c1", "gke_acme_us-central1_c1")
    try:
        assert forward.url == f"http://127.0.0.1:{forward.local_port}"
        assert forward._command() == [str(tools / "kubectl"), "--context", "gke_acme_us-central1_c1", "-n", "llm",
                                      "port-forward", "service/llm-service", f"{forward.local_port}:8080"]
    finally:
        forward.close()


def test_the_port_forward_without_a_context_uses_kubectls_current_one(tools):
    fake_tool(tools, "kubectl", "exit 1\n")
    forward = discovery.PortForward("svc", "ns", 80)
    try:
        assert forward._command() == [str(tools / "kubectl"), "-n", "ns", "port-forward", "service/svc",
                                      f"{forward.local_port}:80"]
    finally:
        forward.close()


def test_a_port_forward_without_kubectl_says_install_it_or_pass_url(tools):
    forward = discovery.PortForward("svc", "ns", 80)
    try:
        with pytest.raises(smoke.SmokeError) as e:
            forward._command()
    finally:
        forward.close()
    assert (e.value.code, e.value.message) == (2, "the endpoint is a ClusterIP Service and kubectl is not on PATH to "
                                                  "port-forward it: install kubectl, or port-forward yourself and "
                                                  "pass --url")


def test_a_port_forward_that_kubectl_refuses_is_a_usage_error_naming_the_cluster(tools):
    # kubectl's last line is its error; a warning may come first (quoting the first line hides the error).
    fake_tool(tools, "kubectl", "echo 'W1130 12:00:00 deprecated flag' >&2\n"
              "echo 'error: services \"svc\" not found' >&2\nexit 1\n")
    forward = discovery.PortForward("svc", "ns", 80, "llm-serving-dev")
    e = refused(forward)
    assert (e.value.code, e.value.message) == (2, 'kubectl port-forward service/svc failed: error: services "svc" '
                                                  "not found; check kubectl's context (gcloud container clusters "
                                                  "get-credentials llm-serving-dev ..., as in the queryCommand) or "
                                                  "pass --url")


@pytest.mark.parametrize("kubectl_error", ["error: unable to forward: pod is Pending", "error: pod llm-0 is not running"])
def test_a_port_forward_to_a_pod_not_serving_yet_is_not_yet(tools, kubectl_error):
    # A Pending or not-yet-running pod: readiness waits for it rather than failing the run.
    fake_tool(tools, "kubectl", f"echo '{kubectl_error}' >&2\nexit 1\n")
    forward = discovery.PortForward("svc", "ns", 80)
    try:
        with pytest.raises(discovery.NotYet) as e:
            forward.ensure()
    finally:
        forward.close()
    assert str(e.value) == f"port-forward: {kubectl_error}"


def test_a_url_target_is_the_url_with_no_namespace_and_no_forward():
    target = find_target(options.parse(["--url", "http://10.0.0.5:8000", "--engine", "tgi"]))
    assert (target.url, target.engine, target.namespace, target.forward, target.from_stack) == (
        "http://10.0.0.5:8000", "tgi", None, None, False)


def test_a_load_balancer_endpoint_of_the_stack_is_used_as_it_is(tools):
    fake_tool(tools, "pulumi", "echo '{\"endpoint\": \"http://34.1.2.3:80\", \"namespace\": \"llm\", "
              "\"engine\": \"vllm\"}'\n")
    target = find_target(options.parse(["--stack", "prod"]))
    assert (target.url, target.engine, target.namespace, target.forward, target.from_stack) == (
        "http://34.1.2.3:80", "vllm", "llm", None, True)
    assert find_target(options.parse(["--stack", "prod", "--engine", "tgi"])).engine == "tgi"  # the option wins


def test_a_cluster_ip_endpoint_of_the_stack_is_port_forwarded(tools):
    fake_tool(tools, "pulumi", "echo '{\"endpoint\": \"http://llm-service.llm.svc.cluster.local:8080\", "
              "\"namespace\": \"llm\", \"clusterName\": \"llm-serving-dev\", \"engine\": \"tgi\"}'\n")
    target = find_target(options.parse([]))
    try:
        f = target.forward
        assert (f.service, f.namespace, f.port, f.cluster_name) == ("llm-service", "llm", 8080, "llm-serving-dev")
        assert (target.url, target.engine, target.namespace, target.from_stack) == (f.url, "tgi", "llm", True)
        assert target.before_poll == f.ensure
    finally:
        target.forward.close()


# --- load: exactly N requests, at most C at once, results in send order ------------------------------------

def counting_transport(state: dict) -> httpx.MockTransport:
    """Answers each streamed completion with as many one-token chunks as its prompt has characters,
    later requests sooner, and counts how many are in flight at once."""
    async def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        state["bodies"].append(body)
        state["in_flight"] += 1
        state["most"] = max(state["most"], state["in_flight"])
        await asyncio.sleep(0.02 / len(state["bodies"]))  # later ones answer sooner: order is not by arrival
        state["in_flight"] -= 1
        chunks = [json.dumps({"choices": [{"text": "t", "finish_reason": None}]}) for _ in body["prompt"]]
        sse = "".join(f"data: {c}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, content=sse.encode(), headers={"Content-Type": "text/event-stream"})
    return httpx.MockTransport(handle)


def a_load(requests: int, concurrency: int, usage: bool = True):
    state = {"bodies": [], "in_flight": 0, "most": 0}
    done: list[Result] = []
    progress = load.Progress()

    async def go():
        async with httpx.AsyncClient(base_url="http://fake", transport=counting_transport(state)) as http:
            return await load.run_load(http, "m", ("a", "bb", "ccc"), requests, concurrency, 7, 10, done.append,
                                       usage=usage, progress=progress)
    results, wall_s = asyncio.run(go())
    return state, results, wall_s, done, progress


def test_the_load_sends_exactly_the_requests_asked_with_at_most_the_concurrency_in_flight():
    state, results, wall_s, done, progress = a_load(7, 3)
    assert len(state["bodies"]) == 7 and state["most"] == 3
    assert (progress.sent, len(progress.results), len(done)) == (7, 7, 7)
    # Each answer is recorded as it comes (progress, for an interrupted run's report) and shown (done).
    assert sorted(r.output_tokens for r in progress.results) == sorted(r.output_tokens for r in done) == [1, 1, 1, 2, 2, 3, 3]
    assert all(isinstance(r, Result) and r.ok for r in progress.results + done)
    # From the first send to the last answer: milliseconds against a transport in memory.
    assert 0 < wall_s < 60 and 0 < progress.wall_s() < 60


def test_a_concurrency_of_one_sends_one_request_at_a_time():
    state, *_ = a_load(4, 1)
    assert (len(state["bodies"]), state["most"]) == (4, 1)


def test_a_concurrency_above_the_requests_sends_them_all_at_once():
    state, *_ = a_load(5, 8)
    assert (len(state["bodies"]), state["most"]) == (5, 5)


def test_the_load_cycles_the_prompts_and_keeps_results_in_send_order():
    state, results, *_ = a_load(7, 3)
    assert sorted(b["prompt"] for b in state["bodies"]) == sorted(["a", "bb", "ccc", "a", "bb", "ccc", "a"])
    # Result i is request i's, whatever order they finished in: prompt i % 3 has i % 3 + 1 chunks.
    assert [r.output_tokens for r in results] == [1, 2, 3, 1, 2, 3, 1]
    assert all(r.ok and r.tokens_from == "chunks" for r in results)


def test_the_load_sends_the_model_max_tokens_and_the_usage_choice():
    state, *_ = a_load(2, 2)
    assert {json.dumps({k: v for k, v in b.items() if k != "prompt"}, sort_keys=True) for b in state["bodies"]} == {
        json.dumps({"model": "m", "max_tokens": 7, "stream": True, "stream_options": {"include_usage": True}},
                   sort_keys=True)}
    state, *_ = a_load(2, 2, usage=False)
    assert all("stream_options" not in b for b in state["bodies"])


def test_progress_has_no_wall_time_before_the_load_starts():
    assert load.Progress().wall_s() == 0.0
    assert (load.Progress().sent, load.Progress().results) == (0, [])


# --- __main__: a --json report that cannot be written ----------------------------------------------------

def test_a_report_that_cannot_be_written_turns_a_clean_run_into_exit_2(llm, run_main, tmp_path):
    # A directory passes the option check (its parent exists) and fails only when written.
    code, _, failures = run_main("--url", llm().url, *FAST, "--json", str(tmp_path))
    assert (code, failures) == (2, [f"smoke: --json {tmp_path}: cannot write it (Is a directory)"])


def test_a_report_that_cannot_be_written_keeps_an_earlier_failures_status_and_line(llm, run_main, tmp_path):
    code, _, failures = run_main("--url", llm(empty=True).url, *FAST, "--json", str(tmp_path))
    assert (code, failures) == (1, ["smoke: completions check failed: choices[0].text is empty (finish_reason "
                                    "length); check the server's logs"])


# --- client: replies the stand-in cannot give ---------------------------------------------------------------

def scripted(*replies: httpx.Response):
    """A client whose every request gets the next of `replies` (httpx's MockTransport)."""
    queue = list(replies)
    return httpx.AsyncClient(base_url="http://fake", transport=httpx.MockTransport(lambda request: queue.pop(0)))


def reply_to(call, *replies: httpx.Response):
    async def go():
        async with scripted(*replies) as http:
            return await call(http)
    return asyncio.run(go())


def sse(*events: str) -> httpx.Response:
    return httpx.Response(200, content="".join(events).encode(), headers={"Content-Type": "text/event-stream"})


def token(text: str, finish=None, **extra) -> str:
    return "data: " + json.dumps({"choices": [{"text": text, "finish_reason": finish}], **extra}) + "\n\n"


def test_a_stream_counts_text_chunks_and_mid_character_pieces_but_not_a_bare_finish():
    result = reply_to(lambda h: client.stream_completion(h, "m", "p", 8, 10), sse(
        ": keep-alive\n\n", "event: message\n",
        token(""),  # part of a multi-byte character: a token
        token("a", usage=None), token("b"),
        token("", finish="length"),  # only the finish reason: not a token
        "data: [DONE]\n\n", "data: after the end marker, never read\n\n"))
    assert (result.ok, result.output_tokens, result.tokens_from) == (True, 3, "chunks")


def test_a_stream_keeps_the_servers_usage_count_over_later_null_usage():
    usage = "data: " + json.dumps({"choices": [], "usage": {"completion_tokens": 9}}) + "\n\n"
    result = reply_to(lambda h: client.stream_completion(h, "m", "p", 8, 10), sse(
        token("a", usage=None), usage, token("", finish="stop", usage=None), "data: [DONE]\n\n"))
    assert (result.output_tokens, result.tokens_from) == (9, "usage")


def test_a_usage_count_that_is_not_an_integer_is_ignored():
    usage = "data: " + json.dumps({"choices": [], "usage": {"completion_tokens": "9"}}) + "\n\n"
    result = reply_to(lambda h: client.stream_completion(h, "m", "p", 8, 10), sse(token("a"), usage,
                                                                                  "data: [DONE]\n\n"))
    assert (result.output_tokens, result.tokens_from) == (1, "chunks")


def test_a_stream_read_all_at_once_is_bursty_and_has_no_per_request_rate():
    result = reply_to(lambda h: client.stream_completion(h, "m", "p", 8, 10),
                      sse(token("a"), token("b"), token("c"), "data: [DONE]\n\n"))
    assert (result.ok, result.bursty, result.tokens_per_s) == (True, True, None)


def test_a_reply_without_server_sent_events_is_malformed():
    result = reply_to(lambda h: client.stream_completion(h, "m", "p", 8, 10),
                      httpx.Response(200, json={"choices": [{"text": "hi"}]}))
    assert (result.ok, result.error, result.detail) == (
        False, "malformed", "no server-sent events in the reply (is stream=true ignored?)")


def test_a_stream_with_an_error_event_is_a_stream_error_result():
    result = reply_to(lambda h: client.stream_completion(h, "m", "p", 8, 10),
                      sse(token("a"), 'data: {"error": "engine died"}\n\n'))
    assert (result.ok, result.error, result.detail) == (False, "stream_error",
                                                        "the server stopped the stream: engine died")


@pytest.mark.parametrize("reply, detail", [
    (httpx.Response(200, json=[1]), "the reply is not a JSON object"),
    (httpx.Response(200, json={"choices": []}), "the reply has no choices"),
    (httpx.Response(200, json={"choices": "x"}), "the reply has no choices"),
    (httpx.Response(200, json={"choices": [7]}), "the reply has no choices"),
    (httpx.Response(200, json={"choices": [{"text": None}]}), "choices[0].text is missing"),
    (httpx.Response(200, text="x" * 100), f"the reply is not JSON: {'x' * 80!r}"),
])
def test_a_completion_reply_of_the_wrong_shape_is_malformed(reply, detail):
    with pytest.raises(RequestFailed) as e:
        reply_to(lambda h: client.check_completion(h, "m", "p", 4, 10), reply)
    assert (e.value.kind, e.value.detail) == ("malformed", detail)


def test_a_blank_completion_is_empty_with_its_finish_reason():
    with pytest.raises(RequestFailed) as e:
        reply_to(lambda h: client.check_completion(h, "m", "p", 4, 10),
                 httpx.Response(200, json={"choices": [{"text": " \n", "finish_reason": "stop"}]}))
    assert (e.value.kind, e.value.detail) == ("empty", "choices[0].text is empty (finish_reason stop)")


def test_a_chat_reply_without_content_is_malformed():
    with pytest.raises(RequestFailed) as e:
        reply_to(lambda h: client.check_chat(h, "m", 4, 10), httpx.Response(200, json={"choices": [{"message": "x"}]}))
    assert (e.value.kind, e.value.detail) == ("malformed", "choices[0].message.content is missing")


def test_the_servers_usage_count_is_taken_only_when_it_is_an_integer():
    # The streamed load counts tokens from usage.completion_tokens when the server sends it.
    assert client._usage_tokens({"usage": {"completion_tokens": 2}}) == 2
    assert client._usage_tokens({"usage": {"completion_tokens": "2"}}) is None
    assert client._usage_tokens({"usage": None}) is None  # vLLM's chunks before the last
    assert client._usage_tokens({}) is None


@pytest.mark.parametrize("reply", [
    httpx.Response(200, json={"data": []}),
    httpx.Response(200, json={"data": [{"id": ""}]}),
    httpx.Response(200, json={"data": [{"id": 5}]}),
    httpx.Response(200, json={"data": [{"name": "m"}]}),
    httpx.Response(200, json={"data": "m"}),
    httpx.Response(200, text="<html>"),
], ids=["no-model", "empty-id", "number-id", "no-id", "no-list", "not-json"])
def test_a_model_listing_without_an_id_says_so(reply):
    assert reply_to(client.served_model, reply) == client.Listing(None, "no model id in the reply")


def test_a_model_listing_ignores_a_context_length_that_is_not_an_integer():
    reply = httpx.Response(200, json={"data": [{"id": "m", "max_model_len": "4096"}]})
    assert reply_to(client.served_model, reply) == client.Listing("m", None, None)


def test_a_stream_refused_with_and_without_stream_options_reports_the_first_refusal(llm):
    server = llm(stream_status=422)
    check = talk(server, lambda h: client.check_stream(h, "m", "p", 4, 10))
    assert (check.result.error, check.result.detail, check.usage, check.refused) == ("http_422", FAKE_422, True, None)
    assert ["stream_options" in b for b in server.seen.bodies] == [True, False]


def test_a_400_is_also_taken_as_a_stream_options_refusal_when_the_retry_works():
    refused = httpx.Response(400, text="unknown field stream_options")
    check = reply_to(lambda h: client.check_stream(h, "m", "p", 4, 10), refused,
                     sse(token("a"), "data: [DONE]\n\n"))
    assert (check.result.ok, check.usage, check.refused) == (True, False, "HTTP 400: unknown field stream_options")


def test_no_api_key_means_no_authorization_header(llm):
    server = llm()
    talk(server, lambda h: client.check_completion(h, "m", "p", 1, 10))
    assert server.seen.auth == [None]


# --- discovery: what pulumi and kubectl failures say -------------------------------------------------------

def test_a_failing_pulumi_that_said_nothing_is_quoted_as_no_message(tools):
    fake_tool(tools, "pulumi", "exit 1\n")
    with pytest.raises(smoke.SmokeError) as e:
        discovery.stack_outputs("prod")
    assert e.value.message == ("`pulumi stack output --stack prod` failed: no message; check the stack name (--stack) "
                               "and `pulumi login`, or pass --url")


def test_a_pulumi_that_hangs_is_cut_at_its_timeout(tools, monkeypatch):
    monkeypatch.setattr(discovery, "PULUMI_TIMEOUT_S", 0.3)
    fake_tool(tools, "pulumi", f"exec {SLEEP} 10\n")
    with pytest.raises(smoke.SmokeError) as e:
        discovery.stack_outputs("dev")
    assert (e.value.code, e.value.message) == (2, "`pulumi stack output --stack dev` took over 0.3 s; check `pulumi "
                                                  "whoami` and the state backend, or pass --url")


def test_pulumis_60_second_and_kubectls_20_second_limits():
    # A remote state backend can be slow; kubectl resolves the Service to a pod before listening.
    assert (discovery.PULUMI_TIMEOUT_S, discovery.FORWARD_START_S) == (60, 20)


def test_a_port_forward_failure_without_a_cluster_name_gives_the_generic_command(tools):
    fake_tool(tools, "kubectl", "echo 'error: forbidden' >&2\nexit 1\n")
    forward = discovery.PortForward("svc", "ns", 80)
    e = refused(forward)
    assert e.value.message == ("kubectl port-forward service/svc failed: error: forbidden; check kubectl's context "
                               "(gcloud container clusters get-credentials ..., as in the queryCommand) or pass --url")




def test_a_port_forward_that_never_opens_its_port_is_stopped_and_says_so(tools, monkeypatch):
    monkeypatch.setattr(discovery, "FORWARD_START_S", 0.3)
    fake_tool(tools, "kubectl", f"exec {SLEEP} 10\n")
    forward = discovery.PortForward("svc", "ns", 80)
    try:
        with pytest.raises(smoke.SmokeError) as e:
            forward.ensure()
        assert forward._proc is None  # stopped, not left running
    finally:
        forward.close()
    assert (e.value.code, e.value.message) == (2, f"kubectl port-forward service/svc did not open port "
                                                  f"{forward.local_port} in 0.3 s; check `kubectl -n ns get pods`")


LISTEN_ONCE = """#!{python}
import os, socket, sys, time
calls = {calls!r}
n = len(open(calls).read()) if os.path.exists(calls) else 0
open(calls, "a").write("x")
if n:  # the pod went away after the first forward
    print("error: lost connection to pod", file=sys.stderr)
    sys.exit(1)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[-1].split(":")[0])))
s.listen()
time.sleep(30)
"""


def test_a_port_forward_that_was_up_and_ends_is_not_yet_and_is_started_again(tools, tmp_path):
    # kubectl ends a forward when a connection to the pod fails (the model still loading): the
    # readiness wait must go on, and call ensure() again, not stop with a usage error.
    calls = tmp_path / "calls"
    (tools / "kubectl").write_text(LISTEN_ONCE.format(python=sys.executable, calls=str(calls)))
    (tools / "kubectl").chmod(0o755)
    forward = discovery.PortForward("svc", "ns", 80)
    try:
        forward.ensure()
        first = forward._proc
        forward.ensure()  # still running: not started twice
        assert forward._proc is first and calls.read_text() == "x"
        first.terminate()
        first.wait(timeout=5)
        with pytest.raises(discovery.NotYet) as e:
            forward.ensure()
        assert str(e.value) == "port-forward: error: lost connection to pod"
    finally:
        forward.close()
    assert first.poll() is not None


LISTEN = """#!{python}
import socket, sys, time
print("Forwarding from 127.0.0.1:" + sys.argv[-1], flush=True)  # what kubectl prints, on stdout
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[-1].split(":")[0])))
s.listen()
time.sleep(30)
"""


def test_closing_a_running_port_forward_stops_kubectl_and_its_chatter_stays_off_smokes_output(tools, capfd):
    # kubectl writes a line per connection on stdout: in smoke's report it would break the tables.
    (tools / "kubectl").write_text(LISTEN.format(python=sys.executable))
    (tools / "kubectl").chmod(0o755)
    forward = discovery.PortForward("svc", "ns", 80)
    try:
        forward.ensure()
        child = forward._proc
        assert child.poll() is None
    finally:
        forward.close()
    assert child.poll() == -15  # SIGTERM from stop(), not left running until its own end
    assert "Forwarding from" not in capfd.readouterr().out


def test_a_port_forward_that_fails_without_a_word_says_no_message(tools):
    fake_tool(tools, "kubectl", "exit 1\n")
    forward = discovery.PortForward("svc", "ns", 80)
    e = refused(forward)
    assert e.value.message.startswith("kubectl port-forward service/svc failed: no message; check kubectl's context")


def test_the_local_port_is_an_unprivileged_one_the_system_picked():
    # Port 0: the kernel's ephemeral range, free now, and bindable without root (kubectl is not root).
    assert 1024 < discovery.free_local_port() < 65536


def test_an_https_endpoint_is_used_as_it_is(tools):
    fake_tool(tools, "pulumi", "echo '{\"endpoint\": \"https://llm.example.com\", \"namespace\": \"llm\"}'\n")
    assert discovery.stack_outputs("prod").endpoint == "https://llm.example.com"


def test_pulumi_is_run_without_a_terminal_to_prompt_on_and_with_its_time_limit(monkeypatch):
    # With stdin closed, a pulumi that would ask for a passphrase fails at once instead of waiting.
    seen = {}

    def run(argv, **kwargs):
        seen.update(kwargs, argv=argv[1:])
        return subprocess.CompletedProcess(argv, 0, stdout='{"endpoint": "http://10.0.0.9:8080"}', stderr="")
    monkeypatch.setattr(discovery.shutil, "which", lambda name: "/bin/" + name)
    monkeypatch.setattr(discovery.subprocess, "run", run)
    assert discovery.stack_outputs("dev").endpoint == "http://10.0.0.9:8080"
    assert seen == {"argv": ["stack", "output", "--json", "--stack", "dev"], "capture_output": True, "text": True,
                    "timeout": 60, "stdin": subprocess.DEVNULL}


def test_the_port_forward_uses_the_stacks_cluster_context(tools, tmp_path, monkeypatch):
    from planner import stack_config
    shutil.copy(Path(__file__).resolve().parents[1] / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  gcp:project: acme\n  gke-llm-serving:location: europe-west4\n")
    original = stack_config.resolve
    monkeypatch.setattr(stack_config, "resolve", lambda stack, **kw: original(stack, root=tmp_path))
    fake_tool(tools, "pulumi", "echo '{\"endpoint\": \"http://llm.llm.svc.cluster.local:8080\", "
              "\"clusterName\": \"llm-serving-dev\"}'\n")
    target = find_target(options.parse([]))
    try:
        assert target.forward.context == "gke_acme_europe-west4_llm-serving-dev"
        assert target.namespace == "llm" and target.engine is None
    finally:
        target.forward.close()


def test_time_to_first_token_waits_for_the_first_text_not_the_first_event():
    # An empty piece (role header, half a character) is no text a user sees yet.
    async def body():
        yield token("").encode()
        await asyncio.sleep(0.1)
        yield (token("a") + token("b") + "data: [DONE]\n\n").encode()
    result = reply_to(lambda h: client.stream_completion(h, "m", "p", 8, 10),
                      httpx.Response(200, content=body(), headers={"Content-Type": "text/event-stream"}))
    assert result.ok and 0.1 <= result.ttft_s <= result.latency_s


def test_the_model_line_says_where_the_name_came_from_when_the_listing_does_not_give_it(llm, run_main):
    # TGI in bucket mode lists its MODEL_ID, the mount path; a server without /v1/models lists nothing.
    stack_model = "mistralai/Mixtral-8x7B-Instruct-v0.1"  # the dev stack's model: Pulumi.yaml's default
    code, out, _ = run_main("--url", llm(listed_id="/models").url, *FAST)
    assert (code, out[2]) == (0, f"  model        {stack_model} (from stack dev config; /v1/models lists the path "
                                 "/models)")
    code, out, _ = run_main("--url", llm(models=False).url, *FAST)
    assert (code, out[2]) == (0, f"  model        {stack_model} (from stack dev config; /v1/models: HTTP 404)")


# --- the --json report of whole runs (what a pipeline reads; found by make mutants MODULE=smoke/__main__.py)

def test_the_json_of_a_healthy_run_names_what_was_checked_and_against_what(run_main, llm, tmp_path):
    server = llm(usage_tokens=6)
    report_path = tmp_path / "r.json"
    code, _, _ = run_main("--url", server.url.replace("http://", "http://u:pw@"), "--stack", "prod", "--engine", "vllm",
                          "--requests", "3", "--concurrency", "2", "--json", str(report_path))
    got = json.loads(report_path.read_text())
    assert code == 0
    assert {k: got[k] for k in ("ok", "failure", "url", "stack", "engine", "model", "concurrency", "max_tokens",
                                "checks", "requests", "succeeded")} == {
        "ok": True, "failure": None, "url": server.url, "stack": "prod", "engine": "vllm",
        "model": fake_llm.MODEL, "concurrency": 2, "max_tokens": 128,
        "checks": {"completions": "ok", "chat": "ok", "stream": "ok"}, "requests": 3, "succeeded": 3}
    assert isinstance(got["waited_s"], float) and 0 <= got["waited_s"] < 5


def test_the_json_of_a_failed_stream_check_records_the_kind(run_main, llm, tmp_path):
    report_path = tmp_path / "r.json"
    code, _, err = run_main("--url", llm(stream_status=503).url, "--json", str(report_path))
    got = json.loads(report_path.read_text())
    assert code == 1
    assert got["checks"] == {"completions": "ok", "chat": "ok", "stream": "failed: http_503"}
    assert err == [f"smoke: stream check failed: {FAKE_503}; check the server's logs"]


def test_the_json_says_chat_was_skipped_when_the_server_has_no_chat_route(run_main, llm, tmp_path):
    report_path = tmp_path / "r.json"
    run_main("--url", llm(chat_status=404).url, "--json", str(report_path))
    assert json.loads(report_path.read_text())["checks"] == {"completions": "ok", "chat": "skipped (404)", "stream": "ok"}
