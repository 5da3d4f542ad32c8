"""`python -m smoke` against a local OpenAI-compatible stand-in (tests/fake_llm.py on 127.0.0.1): the
figures it computes, its failures (one line, the right exit status) and the cost arithmetic.

Timing assertions only bound from the physics: a TTFT is never below the injected delay, and the
upper bounds are generous, so a loaded machine slows the tests but does not fail them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import catalog
import fake_llm
from conftest import ROOT
from smoke.client import Result
from smoke.cost import cost_per_million_output_tokens, ladder_from_stack
from smoke.__main__ import main
from smoke.load import percentile, summarize

FAST = ["--requests", "4", "--concurrency", "2", "--wait", "10", "--timeout", "10"]
SLACK_S = 3.0  # generous: scheduling on a busy 2-core machine, never a tight bound
KEY = "sk-test-DoNotPrint-4f9a"
REPORT_KEYS = {"requests", "errors", "ttft_p50_s", "ttft_p95_s", "latency_p50_s", "latency_p95_s",
               "output_tokens_per_s", "output_tokens_per_s_per_request", "cost_per_million_output_tokens", "url",
               "engine", "concurrency", "max_tokens", "started_at"}


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    report: dict | None
    seconds: float

    @property
    def failure_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("smoke:")]


def environment(overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "API_KEY"}  # the developer's own key stays out
    env.update(overrides)
    return env


@pytest.fixture
def smoke(tmp_path, monkeypatch, capsys):
    """Run smoke with `args` (and --json): by default through the same main() that `python -m smoke`
    calls, in this process (fast); with cli=True as `python -m smoke` in a child process, for what
    only a real process shows (exit status, no traceback, its children stopped). `env` overrides
    environment variables (PATH, API_KEY, ...)."""
    def run(*args: str, env: dict[str, str] | None = None, cli: bool = False, timeout: float = 60) -> Outcome:
        report = tmp_path / "report.json"
        report.unlink(missing_ok=True)
        argv = [*args] if "--json" in args else [*args, "--json", str(report)]
        start = time.monotonic()
        if cli:
            done = subprocess.run([sys.executable, "-m", "smoke", *argv], cwd=ROOT, capture_output=True,
                                  text=True, timeout=timeout, env=environment(env or {}))
            code, out, err = done.returncode, done.stdout, done.stderr
        else:
            with monkeypatch.context() as m:
                m.delenv("API_KEY", raising=False)
                for key, value in (env or {}).items():
                    m.setenv(key, value)
                capsys.readouterr()
                code = main(argv)
                out, err = capsys.readouterr()
        return Outcome(code, out, err, json.loads(report.read_text()) if report.exists() else None,
                       time.monotonic() - start)
    return run


def assert_one_line_failure(o: Outcome, code: int, *words: str) -> str:
    assert o.code == code, o.out + o.err
    assert "Traceback" not in o.err + o.out
    assert len(o.failure_lines) == 1, o.err
    for word in words:
        assert word in o.failure_lines[0]
    return o.failure_lines[0]


# --- a healthy endpoint --------------------------------------------------------------------------


def test_healthy_endpoint_exits_0_with_every_report_key(llm, smoke):
    server = llm()
    o = smoke("--url", server.url, *FAST, cli=True)
    assert o.code == 0, o.err
    assert REPORT_KEYS <= set(o.report)
    assert o.report["ok"] is True and o.report["failure"] is None
    assert (o.report["requests"], o.report["errors"], o.report["concurrency"]) == (4, {}, 2)
    assert o.report["checks"] == {"completions": "ok", "chat": "ok", "stream": "ok"}
    assert o.report["model"] == fake_llm.MODEL


def test_load_sends_exactly_the_requested_number_of_streamed_requests(llm, smoke):
    server = llm()
    o = smoke("--url", server.url, "--requests", "7", "--concurrency", "3")
    assert o.code == 0, o.err
    assert server.seen.streams == 1 + 7  # the stream check, then the 7 of the load
    streamed = [b for b in server.seen.bodies if b.get("stream")]
    assert all(b["stream_options"] == {"include_usage": True} and b["model"] == fake_llm.MODEL for b in streamed)


def test_table_shows_figures_and_a_cost_per_tier_of_the_stack(llm, smoke):
    o = smoke("--url", llm().url, *FAST, "--stack", "prod")
    for label in ("time to first token", "end-to-end latency", "output tokens/s, per request",
                  "output tokens/s, aggregate", "$ per 1M output tokens", "2 replica(s) of g2-standard-24"):
        assert label in o.out
    assert [line.split()[0] for line in o.out.splitlines() if line.strip().startswith(("spot ", "flex-start ", "on-demand "))] \
        == ["spot", "flex-start", "on-demand"]


def test_ttft_is_at_least_the_injected_first_token_delay(llm, smoke):
    o = smoke("--url", llm(first_token_delay=0.4).url, *FAST, cli=True)
    assert o.code == 0, o.err
    assert 0.4 <= o.report["ttft_p50_s"] <= o.report["ttft_p95_s"] < 0.4 + SLACK_S


def test_latency_covers_the_first_token_and_every_token_gap(llm, smoke):
    tokens = ("a", "b", "c", "d", "e", "f")
    o = smoke("--url", llm(tokens=tokens, first_token_delay=0.1, token_delay=0.05).url, *FAST)
    assert o.report["latency_p50_s"] >= 0.1 + 5 * 0.05
    assert o.report["latency_p50_s"] >= o.report["ttft_p50_s"]


def test_per_request_tokens_per_second_is_bounded_by_the_token_gap(llm, smoke):
    # 6 tokens, 5 gaps of >= 0.05 s: at most 20 tokens/s after the first one.
    o = smoke("--url", llm(token_delay=0.05).url, *FAST)
    assert 1 < o.report["output_tokens_per_s_per_request"] <= 20


def test_output_tokens_come_from_the_servers_usage_when_it_sends_it(llm, smoke):
    o = smoke("--url", llm(usage_tokens=42).url, *FAST)
    assert o.report["output_tokens"] == 4 * 42
    assert o.report["output_tokens_counted_from"] == "usage"


def test_output_tokens_are_the_streamed_chunks_without_usage(llm, smoke):
    o = smoke("--url", llm().url, *FAST)
    assert o.report["output_tokens"] == 4 * len(fake_llm.Behaviour().tokens)
    assert o.report["output_tokens_counted_from"] == "chunks"


def test_a_server_refusing_stream_options_is_measured_from_chunks(llm, smoke):
    # A strict OpenAI-compatible server may answer 422 to the usage option: retried without it.
    server = llm(reject_stream_options=True)
    o = smoke("--url", server.url, *FAST)
    assert o.code == 0 and o.report["errors"] == {}
    assert o.report["output_tokens_counted_from"] == "chunks"
    streamed = [b for b in server.seen.bodies if b.get("stream")]
    # Refused at most once per request already in flight, then left out.
    assert 1 <= sum("stream_options" in b for b in streamed) <= 4 and "stream_options" not in streamed[-1]


def test_max_tokens_is_sent_with_every_request(llm, smoke):
    server = llm()
    o = smoke("--url", server.url, *FAST, "--max-tokens", "3")
    assert {b["max_tokens"] for b in server.seen.bodies} == {3}
    assert o.report["output_tokens"] == 4 * 3 and o.report["max_tokens"] == 3


def test_aggregate_rate_is_all_output_tokens_over_the_loads_wall_time(llm, smoke):
    o = smoke("--url", llm(token_delay=0.01).url, *FAST)
    assert o.report["output_tokens_per_s"] == o.report["output_tokens"] / o.report["wall_s"]


def test_reported_cost_is_the_tier_price_times_replicas_over_the_measured_rate(llm, smoke):
    o = smoke("--url", llm().url, *FAST, "--stack", "prod")
    machine = catalog.machines()["g2-standard-24"]
    for tier in ("spot", "flex-start", "on-demand"):
        price = catalog.tier_price(machine, tier, {}).per_hour
        assert o.report["price_per_hour_per_replica"][tier] == price
        assert o.report["cost_per_million_output_tokens"][tier] == cost_per_million_output_tokens(
            price, 2, o.report["output_tokens_per_s"])


def test_replicas_option_replaces_the_stacks_count_in_the_cost(llm, smoke):
    o = smoke("--url", llm().url, *FAST, "--replicas", "3")
    assert (o.report["replicas"], o.report["replicas_source"]) == (3, "--replicas")
    spot = o.report["price_per_hour_per_replica"]["spot"]
    assert o.report["cost_per_million_output_tokens"]["spot"] == cost_per_million_output_tokens(
        spot, 3, o.report["output_tokens_per_s"])


def test_prompts_file_supplies_the_prompts(llm, smoke, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# a comment\nfirst prompt\n\nsecond prompt\n")
    server = llm()
    o = smoke("--url", server.url, *FAST, "--prompts", str(prompts))
    assert o.code == 0, o.err
    assert {b["prompt"] for b in server.seen.bodies if "prompt" in b} == {"first prompt", "second prompt"}


# --- readiness -----------------------------------------------------------------------------------


def test_readiness_waits_through_503s_until_health_answers_200(llm, smoke):
    server = llm(health_failures=2)
    o = smoke("--url", server.url, *FAST)
    assert o.code == 0, o.err
    assert server.seen.paths.count("/health") == 3
    assert "waiting for /health: HTTP 503" in o.err  # the progress shows what it waits for


def test_a_server_that_never_gets_ready_exits_1_after_the_wait(llm, smoke):
    o = smoke("--url", llm(health_failures=10**6).url, *FAST, "--wait", "1")
    assert_one_line_failure(o, 1, "not ready after", "HTTP 503", "--wait")
    assert o.seconds < 1 + 10 + SLACK_S
    assert o.report["ok"] is False and o.report["requests"] == 0


def test_connection_refused_exits_2_in_one_line(smoke):
    closed = fake_llm.FakeLLM(fake_llm.Behaviour())
    url = closed.url
    closed.server_close()  # the port is free now: nothing listens
    o = smoke("--url", url, *FAST, "--wait", "0", cli=True)
    assert_one_line_failure(o, 2, "cannot reach", "connection refused", "--url")


def test_a_server_without_health_is_checked_by_its_answers(llm, smoke):
    o = smoke("--url", llm(health_status=404).url, *FAST)
    assert o.code == 0, o.err
    assert "no /health (404)" in o.out


# --- correctness ---------------------------------------------------------------------------------


def test_chat_is_reported_skipped_when_the_server_does_not_serve_it(llm, smoke):
    o = smoke("--url", llm(chat_status=404).url, *FAST)
    assert o.code == 0, o.err
    assert o.report["checks"]["chat"] == "skipped (404)"
    assert "skipped (404" in o.out


def test_an_http_error_on_the_completion_check_exits_1(llm, smoke):
    o = smoke("--url", llm(status=500).url, *FAST)
    assert_one_line_failure(o, 1, "completions check failed", "HTTP 500", "logs")
    assert o.report["checks"] == {"completions": "failed: http_500"}


def test_a_chat_error_exits_1_and_names_the_chat_check(llm, smoke):
    o = smoke("--url", llm(chat_status=500).url, *FAST)
    assert_one_line_failure(o, 1, "chat check failed", "HTTP 500")


def test_an_empty_reply_exits_1(llm, smoke):
    o = smoke("--url", llm(empty=True).url, *FAST)
    assert_one_line_failure(o, 1, "completions check failed", "empty")


def test_a_reply_that_is_not_json_exits_1(llm, smoke):
    o = smoke("--url", llm(malformed=True).url, *FAST)
    assert_one_line_failure(o, 1, "completions check failed", "not JSON")


def test_a_slow_correctness_reply_times_out_and_exits_1(llm, smoke):
    o = smoke("--url", llm(reply_delay=5).url, *FAST, "--timeout", "0.5")
    assert_one_line_failure(o, 1, "completions check failed", "timed out", "--timeout")
    assert o.seconds < 5


# --- API key -------------------------------------------------------------------------------------


def test_the_api_key_is_sent_as_a_bearer_token_on_every_request(llm, smoke):
    server = llm(api_key=KEY)
    o = smoke("--url", server.url, *FAST, env={"API_KEY": KEY})
    assert o.code == 0, o.err
    assert set(server.seen.auth) == {f"Bearer {KEY}"}


def test_a_wrong_api_key_exits_2_and_is_never_printed(llm, smoke):
    o = smoke("--url", llm(api_key="the-right-one").url, *FAST, env={"API_KEY": KEY}, cli=True)
    assert_one_line_failure(o, 2, "API key was rejected", "HTTP 401", "API_KEY")
    assert KEY not in o.out + o.err + json.dumps(o.report)


def test_a_missing_api_key_says_to_set_it(llm, smoke):
    o = smoke("--url", llm(api_key=KEY).url, *FAST)
    assert_one_line_failure(o, 2, "needs an API key", "set API_KEY")


# --- errors during the load ----------------------------------------------------------------------


def test_load_errors_are_counted_by_kind_and_exit_1(llm, smoke):
    o = smoke("--url", llm(fail_every=2).url, "--requests", "6", "--concurrency", "2", cli=True)
    line = assert_one_line_failure(o, 1, "3 of 6 load requests failed", "http_503 3")
    assert "logs" in line
    assert o.report["errors"] == {"http_503": 3} and o.report["requests"] == 6
    assert "http_503 3" in o.out  # the table shows them too


def test_load_timeouts_are_bounded_counted_and_exit_1(llm, smoke):
    # The checks answer at once; every streamed request of the load would wait 30 s for its first token.
    o = smoke("--url", llm(first_token_delay=30, slow_from_stream=2).url, "--requests", "4", "--concurrency", "4",
              "--timeout", "0.5")
    assert_one_line_failure(o, 1, "4 of 4 load requests failed", "timeout 4", "--timeout",
                            "timed out after 0.5 s")  # the seconds, so the user knows what to raise
    assert o.report["errors"] == {"timeout": 4}
    assert o.seconds < 0.5 + 10 + SLACK_S  # one wave of timeouts, not 30 s


def test_costs_are_null_when_nothing_was_produced(llm, smoke):
    o = smoke("--url", llm(stream_status=503).url, *FAST)
    assert o.code == 1
    assert o.report["output_tokens_per_s"] is None
    assert set(o.report["cost_per_million_output_tokens"].values()) == {None}


# --- usage and configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["--requests", "0"], ["--requests 0"]),
    (["--concurrency", "0"], ["--concurrency 0"]),
    (["--url", "localhost:8080"], ["--url", "http://"]),
    (["--engine", "sglang"], ["--engine"]),
    (["--prompts", "/nonexistent/prompts.txt"], ["--prompts", "cannot read"]),
    (["--stack", "nosuchstack"], ["Pulumi.nosuchstack.yaml"]),
    (["--json", "/nonexistent/dir/report.json"], ["--json", "no directory"]),
])
def test_bad_usage_or_config_exits_2_in_one_line(smoke, args, words):
    o = smoke("--url", "http://127.0.0.1:9", *args)
    assert_one_line_failure(o, 2, *words)


# --- discovery from the stack outputs ------------------------------------------------------------


def fake_tools(tmp_path: Path, outputs: dict, kubectl: str = "forward") -> tuple[Path, Path]:
    """A bin/ with a fake `pulumi` that prints `outputs` and a fake `kubectl` that forwards the
    local port to the test server (or fails like a wrong context); both log their argv."""
    bin_dir, log = tmp_path / "bin", tmp_path / "tools.log"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(f"""#!{sys.executable}
import json, os, sys
with open({str(log)!r}, "a") as f:
    f.write(json.dumps({{"tool": "pulumi", "argv": sys.argv[1:]}}) + "\\n")
print({json.dumps(json.dumps(outputs))})
""")
    bodies = {
        "forward": """
import asyncio
local, upstream = int(sys.argv[-1].split(":")[0]), int(os.environ["FAKE_UPSTREAM_PORT"])

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()

async def handle(reader, writer):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

async def main():
    async with await asyncio.start_server(handle, "127.0.0.1", local):
        await asyncio.sleep(60)  # bounded: never outlives a test, even if nobody stops it

asyncio.run(main())
""",
        "fail": """
print('error: services "llm-service" not found', file=sys.stderr)
sys.exit(1)
""",
        "silent": """
import time
time.sleep(60)  # runs, never opens the local port (a slow API server)
""",
    }
    (bin_dir / "kubectl").write_text(f"""#!{sys.executable}
import json, os, sys
with open({str(log)!r}, "a") as f:
    f.write(json.dumps({{"tool": "kubectl", "argv": sys.argv[1:], "pid": os.getpid()}}) + "\\n")
{bodies[kubectl]}""")
    for tool in ("pulumi", "kubectl"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir, log


def calls(log: Path, tool: str) -> list[dict]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [c for c in map(json.loads, lines) if c["tool"] == tool]


def gone(pid: int, within_s: float = 5) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


CLUSTER_IP_OUTPUTS = {"endpoint": "http://llm-service.llm.svc.cluster.local:8080", "namespace": "llm",
                      "clusterName": "llm-serving-dev", "engine": "tgi", "kubeconfig": "[secret]"}


def test_without_url_a_cluster_ip_endpoint_is_port_forwarded_and_the_forward_stopped(llm, smoke, tmp_path):
    server = llm()
    bin_dir, log = fake_tools(tmp_path, CLUSTER_IP_OUTPUTS)
    o = smoke(*FAST, env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_UPSTREAM_PORT": str(server.server_address[1])},
              cli=True)
    assert o.code == 0, o.err
    assert [c["argv"] for c in calls(log, "pulumi")] == [["stack", "output", "--json", "--stack", "dev"]]
    (kubectl,) = calls(log, "kubectl")
    local = kubectl["argv"][-1].split(":")[0]
    assert kubectl["argv"] == ["-n", "llm", "port-forward", "service/llm-service", f"{local}:8080"]
    assert o.report["url"] == f"http://127.0.0.1:{local}" and o.report["engine"] == "tgi"
    assert server.seen.streams == 1 + 4  # the stream check and the load went through the forward
    assert gone(kubectl["pid"])


def test_without_url_a_load_balancer_endpoint_is_used_as_it_is(llm, smoke, tmp_path):
    server = llm()
    bin_dir, log = fake_tools(tmp_path, {"endpoint": server.url, "namespace": "llm"})
    o = smoke(*FAST, "--stack", "prod", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert o.code == 0, o.err
    assert calls(log, "kubectl") == []
    assert [c["argv"][-1] for c in calls(log, "pulumi")] == ["prod"]


def test_without_url_and_without_pulumi_exits_2_saying_what_to_do(smoke, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    o = smoke(*FAST, env={"PATH": str(empty)})
    assert_one_line_failure(o, 2, "--url", "Pulumi CLI")


def test_a_failing_port_forward_exits_2_with_kubectls_words(smoke, tmp_path):
    bin_dir, _ = fake_tools(tmp_path, CLUSTER_IP_OUTPUTS, kubectl="fail")
    o = smoke(*FAST, env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert_one_line_failure(o, 2, 'services "llm-service" not found', "get-credentials llm-serving-dev")


def sigterm_once(args: list[str], env: dict[str, str], ready, what: str, settle_s: float = 0.0,
                 timeout_s: float = 15) -> tuple[int, str]:
    """`python -m smoke ARGS` in a child, sent SIGTERM once `ready()` holds (within 20 s) and `settle_s`
    more have passed: (exit status, stderr). A child still running `timeout_s` later is killed."""
    proc = subprocess.Popen([sys.executable, "-m", "smoke", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready(), what
        time.sleep(settle_s)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_sigterm_while_waiting_stops_the_port_forward_and_exits_in_one_line(llm, tmp_path):
    server = llm(health_failures=10**6)
    bin_dir, log = fake_tools(tmp_path, CLUSTER_IP_OUTPUTS)
    env = environment({"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_UPSTREAM_PORT": str(server.server_address[1])})
    code, err = sigterm_once(["--wait", "60"], env, lambda: "/health" in server.seen.paths, "smoke never polled /health")
    assert code == 130, err
    # No load had started: the line must not say it stopped one.
    (line,) = [l for l in err.splitlines() if l.startswith("smoke:")]
    assert "Traceback" not in err and line.startswith("smoke: interrupted while waiting for /health (")
    assert line.endswith("nothing was sent to the model") and "load stopped" not in line
    assert gone(calls(log, "kubectl")[0]["pid"])



def test_sigterm_while_a_port_forward_starts_stops_at_once_not_after_the_20_s_start_wait(llm, tmp_path):
    # Starting kubectl port-forward is smoke's own synchronous wait inside the event loop (up to
    # 20 s, discovery.FORWARD_START_S): a signal there must not wait for the loop to run again.
    server = llm()
    bin_dir, log = fake_tools(tmp_path, CLUSTER_IP_OUTPUTS, kubectl="silent")
    env = environment({"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    # 10 s: well under the 20 s a wait that ignored the signal would take.
    code, err = sigterm_once(["--wait", "60"], env, lambda: bool(calls(log, "kubectl")), "smoke never started kubectl",
                             settle_s=0.3, timeout_s=10)
    assert code == 130, err
    (line,) = [l for l in err.splitlines() if l.startswith("smoke:")]
    assert re.fullmatch(r"smoke: interrupted while waiting for /health \((\d+) s\); nothing was sent to the model",
                        line), line
    assert int(re.search(r"\((\d+) s\)", line).group(1)) < 10
    assert server.seen.paths == []
    assert gone(calls(log, "kubectl")[0]["pid"])

# --- the arithmetic, exactly ---------------------------------------------------------------------


def test_cost_per_million_is_dollars_per_hour_over_tokens_per_hour():
    # 2 replicas at $3.60/h = $7.20/h; 1000 tokens/s = 3.6 M tokens/h: $2 per million.
    assert cost_per_million_output_tokens(3.6, 2, 1000) == 2.0
    assert cost_per_million_output_tokens(0.79862, 1, 100) == pytest.approx(2.218389, abs=1e-6)


@pytest.mark.parametrize("price, replicas, rate", [(None, 1, 100.0), (0.8, 1, 0.0), (0.8, 1, None), (0.8, 0, 100.0)])
def test_cost_is_unknown_without_a_price_a_replica_or_any_output(price, replicas, rate):
    assert cost_per_million_output_tokens(price, replicas, rate) is None


def stack_dir(tmp_path: Path, config: dict) -> Path:
    d = tmp_path / "stacks"
    d.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", d / "Pulumi.yaml")
    (d / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": config}))
    return d


def test_ladder_is_the_stacks_tiers_with_the_plans_prices_and_replicas():
    ladder = ladder_from_stack("prod")
    assert [(t.name, t.per_hour, t.source) for t in ladder.tiers] == [
        ("spot", 0.79862, "price table"),
        ("flex-start", 0.94039, "assumption: on-demand less 53%"),
        ("on-demand", 2.00083, "price table"),
    ]
    assert (ladder.machine, ladder.replicas) == ("g2-standard-24", 2)


def test_ladder_costs_double_with_twice_the_replicas(tmp_path):
    one = ladder_from_stack("dev").costs(500.0)
    two = ladder_from_stack("dev", replicas=2).costs(500.0)
    assert {tier: 2 * cost for tier, cost in one.items()} == two


def test_price_overrides_from_the_stack_replace_the_table(tmp_path):
    ladder = ladder_from_stack("t", root=stack_dir(tmp_path, {"gke-llm-serving:priceSpot": "1.5"}))
    assert (ladder.tiers[0].name, ladder.tiers[0].per_hour, ladder.tiers[0].source) == ("spot", 1.5, "config")


def test_autoscaling_min_replicas_is_the_count_when_present_and_is_said(tmp_path):
    root = stack_dir(tmp_path, {"gke-llm-serving:replicas": 2,
                                "gke-llm-serving:autoscaling": {"minReplicas": 3, "maxReplicas": 6}})
    ladder = ladder_from_stack("t", root=root)
    assert ladder.replicas == 3 and "autoscaling minReplicas" in ladder.replicas_source
    assert ladder_from_stack("t", replicas=1, root=root).replicas == 1  # --replicas still wins


def test_percentiles_interpolate_between_ranks():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_per_request_rate_counts_tokens_after_the_first_over_the_time_after_it():
    assert Result(True, ttft_s=0.5, latency_s=2.5, output_tokens=5).tokens_per_s == 2.0
    assert Result(True, ttft_s=0.5, latency_s=0.5, output_tokens=1).tokens_per_s is None


def test_summary_counts_errors_by_kind_and_rates_only_successes():
    results = [Result(True, ttft_s=0.1, latency_s=1.1, output_tokens=11, tokens_from="chunks"),
               Result(False, "timeout", "timed out"), Result(False, "http_503", "HTTP 503"),
               Result(False, "timeout", "timed out")]
    s = summarize(results, wall_s=2.0)
    assert s.errors == {"http_503": 1, "timeout": 2}
    assert (s.requests, s.succeeded, s.output_tokens, s.output_tokens_per_s) == (4, 1, 11, 5.5)
    assert s.output_tokens_per_s_per_request == 10.0


def test_port_forward_targets_the_stacks_own_cluster_context(tmp_path):
    # dev and prod share namespace and Service names: the forward must not reach whichever cluster
    # happens to be kubectl's current context.
    import shutil as _shutil
    from smoke import discovery
    from planner.stack_config import ROOT
    _shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.t.yaml").write_text("config:\n  gcp:project: acme-ml\n  gke-llm-serving:location: europe-west4\n")
    assert discovery.kube_context("t", "llm-serving-t", root=tmp_path) == "gke_acme-ml_europe-west4_llm-serving-t"
    (tmp_path / "Pulumi.u.yaml").write_text("config: {}\n")
    assert discovery.kube_context("u", "llm-serving-u", root=tmp_path) is None  # no project: current context


# --- issue 17: what a failing endpoint must not hide ----------------------------------------------


def test_a_partly_failed_load_reports_counts_but_no_figures_or_cost(llm, smoke):
    # Half the load fails: the survivors' timings are a biased sample and the aggregate rate
    # counts the failures' time, so a pipeline must not get them as if measured (README: null).
    o = smoke("--url", llm(fail_every=2).url, "--requests", "6", "--concurrency", "2")
    assert o.code == 1
    assert (o.report["requests"], o.report["succeeded"], o.report["errors"]) == (6, 3, {"http_503": 3})
    figures = ("ttft_p50_s", "ttft_p95_s", "latency_p50_s", "latency_p95_s", "output_tokens", "wall_s",
               "output_tokens_per_s", "output_tokens_per_s_per_request", "output_tokens_counted_from")
    assert {key: o.report[key] for key in figures} == dict.fromkeys(figures)
    assert set(o.report["cost_per_million_output_tokens"].values()) == {None}


def test_a_partly_failed_load_prints_no_timing_and_no_cost_table(llm, smoke):
    o = smoke("--url", llm(fail_every=2).url, "--requests", "6", "--concurrency", "2")
    assert "3 / 6" in o.out and "http_503 3" in o.out  # what happened is shown
    for absent in ("time to first token", "output tokens/s, aggregate", "$ per 1M output tokens", "Cost at"):
        assert absent not in o.out
    assert "figures and cost withheld" in o.out


def test_a_400_during_the_load_keeps_asking_for_the_servers_usage(llm, smoke, tmp_path):
    # A prompt past the context gets 400 (vLLM does): that is an error of that request, not a
    # server refusing stream_options; every load request must still ask for the server's count.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("short prompt\n" + "a prompt longer than the context " * 10 + "\n")
    server = llm(max_prompt_chars=100, usage_tokens=6)
    o = smoke("--url", server.url, "--requests", "6", "--concurrency", "1", "--prompts", str(prompts))
    assert o.code == 1 and o.report["errors"] == {"http_400": 3}  # the 3 long prompts of 6, round robin
    load_bodies = [b for b in server.seen.bodies if b.get("stream")][1:]  # after the stream check
    assert len(load_bodies) == 6
    assert all(b.get("stream_options") == {"include_usage": True} for b in load_bodies)
    assert o.report["checks"]["stream"] == "ok"


def test_a_server_refusing_stream_options_is_asked_once_in_the_stream_check(llm, smoke):
    server = llm(reject_stream_options=True)
    o = smoke("--url", server.url, *FAST)
    assert o.code == 0, o.err
    streamed = [b for b in server.seen.bodies if b.get("stream")]
    # The check: with stream_options (422), then without (ok); the 4 load requests without it.
    assert ["stream_options" in b for b in streamed] == [True, False, False, False, False, False]
    assert o.report["checks"]["stream"] == "ok without stream_options"
    assert "stream_options refused: HTTP 422" in o.out


def test_a_stream_delivered_in_one_burst_has_no_per_request_rate(llm, smoke):
    # A buffering proxy holds the 6 tokens (50 ms apart at the server) and sends them at once: the
    # client sees 5 tokens in microseconds, which is no decode speed at all (issue 17: 2,338 to
    # 5,490 tokens/s reported where the server measured 456 to 530).
    o = smoke("--url", llm(burst=True, token_delay=0.05).url, *FAST)
    assert o.code == 0, o.err
    assert o.report["output_tokens_per_s_per_request"] is None
    assert o.report["bursty_streams"] == 4
    assert "4 of 4 streams arrived in bursts" in o.out


def test_a_stream_decoded_token_by_token_is_not_called_bursty(llm, smoke):
    o = smoke("--url", llm(token_delay=0.02).url, *FAST)
    assert o.report["bursty_streams"] == 0 and o.report["output_tokens_per_s_per_request"] is not None
    assert "bursts" not in o.out


@pytest.mark.parametrize("gaps_ms, bursty", [
    ([0.5, 0.5, 0.5], True),  # all under 1 ms
    ([1.01, 1.01, 1.01], False),  # just over 1 ms: under 1,000 tokens/s, a decode speed
    ([0.99, 0.99, 0.99], True),  # just under
    ([0.5, 0.5, 20.0], True),  # 2 of 3 gaps in a burst: a majority
    ([0.5, 20.0, 0.5, 20.0], False),  # half is not most
    ([0.1], False),  # one gap: too few to judge
])
def test_a_stream_is_bursty_when_most_token_gaps_are_under_a_millisecond(gaps_ms, bursty):
    from smoke.client import is_bursty
    arrivals, t = [10.0], 10.0
    for gap in gaps_ms:
        t += gap / 1000
        arrivals.append(t)
    assert is_bursty(arrivals) is bursty


def test_a_401_on_v1_models_stops_with_the_api_key_message(llm, smoke):
    # The key is wrong for what follows too; naming the stack's model instead would hide it.
    o = smoke("--url", llm(models_status=401).url, *FAST)
    assert_one_line_failure(o, 2, "needs an API key", "HTTP 401")
    assert o.report["model"] is None and o.report["checks"] == {"models": "failed: auth"}


def test_a_404_on_v1_models_says_the_model_name_is_the_stacks_guess(llm, smoke):
    o = smoke("--url", llm(models_status=404).url, *FAST)
    assert o.code == 0, o.err
    model_line = next(line for line in o.out.splitlines() if line.strip().startswith("model "))
    assert model_line.endswith("(from stack dev config; /v1/models: HTTP 404)")


def test_a_path_listed_on_v1_models_is_reported_as_the_stacks_model(llm, smoke):
    # TGI in bucket mode lists MODEL_ID, the mount path "/models", and answers any model name.
    o = smoke("--url", llm(listed_id="/models").url, *FAST)
    assert o.code == 0, o.err
    model_line = next(line for line in o.out.splitlines() if line.strip().startswith("model "))
    assert model_line.endswith("mistralai/Mixtral-8x7B-Instruct-v0.1 (from stack dev config; /v1/models lists the path /models)")


def test_a_url_ending_in_v1_is_refused_before_any_request(llm, smoke):
    # llama.cpp's server answers /v1/health, so /v1 would pass readiness and 404 on /v1/v1/...
    server = llm(v1_health=True)
    o = smoke("--url", server.url + "/v1", *FAST)
    assert_one_line_failure(o, 2, "without /v1", f"e.g. {server.url})")
    assert server.seen.paths == []


def test_a_404_on_the_completion_check_says_the_url_must_be_the_servers_root(llm, smoke):
    o = smoke("--url", llm(status=404).url + "/llm", *FAST)
    assert_one_line_failure(o, 1, "completions check failed", "HTTP 404", "--url must be the server's root")


def test_a_plain_url_failure_does_not_suggest_kubectl(llm, smoke):
    # --url can be any server, not this project's Deployment.
    line = assert_one_line_failure(smoke("--url", llm(chat_status=500).url, *FAST), 1, "chat check failed")
    assert line.endswith("check the server's logs") and "kubectl" not in line


def test_a_stack_endpoint_failure_points_at_the_deployments_logs(llm, smoke, tmp_path):
    server = llm(chat_status=500)
    bin_dir, _ = fake_tools(tmp_path, {"endpoint": server.url, "namespace": "llm"})
    o = smoke(*FAST, env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert_one_line_failure(o, 1, "chat check failed", "kubectl -n llm logs deployment/llm")


def test_sigterm_during_the_load_reports_the_requests_that_finished(llm, smoke, tmp_path):
    # Streams: 1 the check, 2-3 the first two load requests (fast), 4 on wait 30 s for a token.
    server = llm(first_token_delay=30, slow_from_stream=4)
    report_path = tmp_path / "interrupted.json"
    code, err = sigterm_once(["--url", server.url, "--requests", "6", "--concurrency", "2", "--wait", "10",
                              "--json", str(report_path)], environment({}), lambda: server.seen.streams == 5,
                             "the load never reached two slow requests in flight", settle_s=0.2)
    assert code == 130, err
    assert [l for l in err.splitlines() if l.startswith("smoke:")] == [
        "smoke: interrupted during the load: 2 of 6 requests answered, 2 in flight; the load stopped where it was"]
    report = json.loads(report_path.read_text())
    assert (report["requests"], report["succeeded"], report["errors"]) == (4, 2, {"interrupted": 2})
    assert report["ok"] is False and report["output_tokens_per_s"] is None


def test_the_heading_notes_a_max_tokens_past_the_servers_context(llm, smoke):
    # The prompt takes part of the context, so 64 output tokens cannot fit in 64.
    o = smoke("--url", llm(max_model_len=64).url, *FAST, "--max-tokens", "64")
    assert "  asked for 64, but the server's context is 64 tokens, prompt included\n" in o.out


def test_the_heading_has_no_context_note_when_max_tokens_fits(llm, smoke):
    o = smoke("--url", llm(max_model_len=64).url, *FAST, "--max-tokens", "63")
    assert "up to 63 output tokens each\n" in o.out and "server's context" not in o.out


def test_the_output_line_says_the_longest_answer_against_what_was_asked(llm, smoke):
    o = smoke("--url", llm().url, *FAST, "--max-tokens", "100")
    assert "longest answer 6 of 100 asked" in o.out  # the stand-in has 6 tokens to give


def test_a_password_in_the_url_is_never_printed_or_saved(llm, smoke):
    secret = "pw-DoNotPrint-71c3"
    server = llm(chat_status=500)
    o = smoke("--url", server.url.replace("http://", f"http://smoker:{secret}@"), *FAST, cli=True)
    assert o.code == 1
    assert secret not in o.out + o.err + json.dumps(o.report)
    assert o.report["url"] == server.url


def test_redact_replaces_the_urls_password_in_a_whole_report():
    from smoke.options import redact
    url = "http://u:hunter2@h:1"
    assert redact({"a": ["x hunter2 y"], "b": 3, "c": "hunter2"}, url) == {"a": ["x *** y"], "b": 3, "c": "***"}
    assert redact("hunter2", "http://h:1") == "hunter2"  # no password in the URL: nothing to hide


# --- `make smoke`: the exit status is smoke's own ------------------------------------------------


def make_smoke(tmp_path: Path, *variables: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """`make smoke VARIABLES...` from the repository, with VENV pointing at a stand-in virtualenv
    whose python is this one, so the test does not build venv/ (and works from any checkout)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (venv / ".ready").touch()  # newer than the requirements: make sees the virtualenv as built
    env = environment({})
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    return subprocess.run(["make", "--no-print-directory", "smoke", f"VENV={venv}", *variables], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
MAKE_ARGS = 'ARGS=--requests 2 --concurrency 2 --wait 5 --timeout 10'


@needs_make
def test_make_smoke_exits_0_for_a_healthy_endpoint(llm, tmp_path):
    done = make_smoke(tmp_path, f"URL={llm().url}", MAKE_ARGS)
    assert done.returncode == 0, done.stderr


@needs_make
def test_make_smoke_exits_1_when_the_endpoint_answers_wrongly(llm, tmp_path):
    # GNU make turns a failing recipe into 2; CI must tell "answered wrongly" from "unreachable".
    done = make_smoke(tmp_path, f"URL={llm(empty=True).url}", MAKE_ARGS)
    assert done.returncode == 1, done.stderr
    assert "completions check failed" in done.stderr


@needs_make
def test_make_smoke_exits_2_when_the_endpoint_is_unreachable(tmp_path):
    closed = fake_llm.FakeLLM(fake_llm.Behaviour())
    url = closed.url
    closed.server_close()
    done = make_smoke(tmp_path, f"URL={url}", "ARGS=--wait 0")
    assert done.returncode == 2, done.stderr
    assert "cannot reach the endpoint" in done.stderr


@needs_make
def test_make_smoke_never_echoes_a_password_in_url(llm, tmp_path):
    secret = "pw-DoNotPrint-9e2d"
    url = llm(empty=True).url.replace("http://", f"http://smoker:{secret}@")
    done = make_smoke(tmp_path, f"URL={url}", MAKE_ARGS)
    assert done.returncode == 1, done.stderr
    assert secret not in done.stdout + done.stderr


@needs_make
def test_make_n_smoke_shows_the_url_as_a_variable_not_its_value(tmp_path):
    secret = "pw-DoNotPrint-5a1b"
    done = make_smoke(tmp_path, "-n", f"URL=http://smoker:{secret}@127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr and '--url "$URL"' in done.stdout


def _ctrl_c_as_in_a_terminal() -> None:
    # A job started with `&` from a script (CI, `make mutants &`) inherits SIGINT ignored, and make
    # would then ignore the Ctrl-C this test sends; in a terminal it has the default action.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@needs_make
def test_ctrl_c_on_make_smoke_ends_it_by_sigint_as_a_shell_reports_130(llm, tmp_path):
    # Ctrl-C reaches the whole foreground process group; make dies of SIGINT, which a shell
    # reports as 128 + 2 = 130, smoke's own interrupted status.
    server = llm(health_failures=10**6)
    venv = tmp_path / "venv"
    make_smoke(tmp_path, "-n")  # builds the stand-in virtualenv only
    env = environment({})
    env.pop("MAKEFLAGS", None)
    proc = subprocess.Popen(["make", "--no-print-directory", "smoke", f"VENV={venv}", f"URL={server.url}",
                             "ARGS=--wait 60"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 20
        while "/health" not in server.seen.paths and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "/health" in server.seen.paths, "smoke never polled /health"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGINT, err
    assert "smoke: interrupted while waiting for /health" in err
