"""What `make smoke` reports, pinned as literals: the percentiles, the cost arithmetic, the stack's
ladder as smoke reads it, the tables a person reads and the JSON a pipeline reads. Each was a
surviving mutant of `make mutants MODULE=smoke/...` (tests/MUTANTS.md): a slip there misstates what
the deployed model costs or how fast it is, and CI relies on the JSON and the exit codes."""

import io
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from rich.console import Console

import smoke
from smoke import cost, load, report
from smoke.client import Result

ROOT = Path(__file__).resolve().parent.parent


def results():
    # Two answers (100 and 50 tokens after the first, over 2.0 s and 4.0 s) and one timeout.
    return [Result(True, ttft_s=0.2, latency_s=2.2, output_tokens=101, tokens_from="usage"),
            Result(True, ttft_s=0.4, latency_s=4.4, output_tokens=51, tokens_from="usage"),
            Result(False, error="timeout", detail="no answer in 5 s")]


def rendered(*things, width=110) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), highlight=False, markup=False)
    for thing in things:
        console.print(thing)
    return console.export_text()


# --- percentiles and figures -------------------------------------------------------------------------

def test_percentiles_interpolate_between_closest_ranks_like_numpy():
    # p95 of a small load is the figure a reader compares with an SLO: numpy's default method.
    assert load.percentile([2.0, 1.0], 50) == 1.5
    assert load.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert load.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert load.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0) == 1.0
    assert load.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 100) == 5.0
    assert load.percentile([7.0], 95) == 7.0
    assert load.percentile([], 50) is None


def test_summary_of_two_answers_and_a_timeout():
    s = load.summarize(results(), 5.0)
    assert (s.requests, s.succeeded, s.errors, s.error_details) == (3, 2, {"timeout": 1},
                                                                    {"timeout": "no answer in 5 s"})
    assert s.ttft_p50_s == pytest.approx(0.3) and s.ttft_p95_s == pytest.approx(0.39)
    assert s.latency_p50_s == pytest.approx(3.3) and s.latency_p95_s == pytest.approx(4.29)
    # Aggregate: every successful token over the load's wall time; per request: the median of
    # (tokens after the first) / (time after the first) = median(50, 12.5).
    assert (s.output_tokens, s.output_tokens_per_s, s.output_tokens_per_s_per_request) == (152, 30.4, 31.25)
    assert (s.tokens_from, s.bursty, s.longest_output) == ("usage", 0, 101)


def test_an_interrupted_load_counts_its_requests_in_flight_as_sent():
    s = load.summarize(results()[:1], 1.0, in_flight=2)
    assert (s.requests, s.succeeded, s.errors) == (3, 1, {"interrupted": 2})
    assert s.error_details == {"interrupted": "sent, with no answer yet when the run was interrupted"}


def test_a_load_counted_both_ways_says_so_and_a_load_with_no_answer_has_a_longest_of_0():
    # A server that sent usage for some streams and not others: the report says both sources,
    # in this order, in the line "counted from chunks and usage" and in the JSON.
    mixed = [Result(True, ttft_s=0.1, latency_s=0.2, output_tokens=3, tokens_from="usage"),
             Result(True, ttft_s=0.1, latency_s=0.2, output_tokens=4, tokens_from="chunks")]
    assert load.summarize(mixed, 1.0).tokens_from == "chunks and usage"
    nothing = load.summarize([Result(False, "timeout", "no answer in 5 s")], 5.0)
    assert (nothing.tokens_from, nothing.longest_output, nothing.output_tokens) == (None, 0, 0)


def test_no_token_or_no_time_gives_no_rate():
    assert load.summarize([Result(True, ttft_s=0.1, latency_s=0.1, output_tokens=0)], 1.0).output_tokens_per_s is None
    assert load.summarize(results()[:1], 0.0).output_tokens_per_s is None


# --- cost --------------------------------------------------------------------------------------------

def test_cost_per_million_output_tokens_is_dollars_per_hour_over_tokens_per_hour():
    # 2 replicas at $0.80/h producing 250 tokens/s: $1.60 per 900,000 tokens = $1.777... per 1M.
    assert cost.cost_per_million_output_tokens(0.80, 2, 250.0) == pytest.approx(1.7777778)
    assert cost.cost_per_million_output_tokens(3.6, 1, 1.0) == 1000.0
    for unknown in ((None, 1, 10.0), (1.0, 1, None), (1.0, 1, 0.0), (1.0, 1, -5.0), (1.0, 0, 10.0), (1.0, -1, 10.0)):
        assert cost.cost_per_million_output_tokens(*unknown) is None


def test_dev_ladder_is_spot_then_flex_start_on_one_g2_standard_24():
    ladder = cost.ladder_from_stack("dev")
    assert ladder.machine == "g2-standard-24"
    assert [(t.name, t.per_hour, t.source) for t in ladder.tiers] == [
        ("spot", 0.79862, "price table"), ("flex-start", 0.94039, "assumption: on-demand less 53%")]
    assert (ladder.replicas, ladder.replicas_source) == (1, "stack dev replicas")
    assert ladder.model == "mistralai/Mixtral-8x7B-Instruct-v0.1"


def test_prod_ladder_prices_its_autoscaling_minimum_and_the_on_demand_rung():
    # An autoscaled stack idles at minReplicas: that is what a light smoke load is paying for.
    ladder = cost.ladder_from_stack("prod")
    assert [(t.name, t.per_hour) for t in ladder.tiers] == [
        ("spot", 0.79862), ("flex-start", 0.94039), ("on-demand", 2.00083)]
    assert (ladder.replicas, ladder.replicas_source) == (
        2, "stack prod autoscaling minReplicas (pass --replicas to price another count)")
    assert cost.ladder_from_stack("prod", replicas=5).replicas_source == "--replicas"
    assert ladder.costs(250.0) == pytest.approx(
        {"spot": 1.7747111, "flex-start": 2.0897556, "on-demand": 4.4462889})


def stack_files(tmp_path, config: dict):
    """Pulumi.yaml and a Pulumi.t.yaml with `config` under the project's keys."""
    root = tmp_path / "stacks"
    root.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": {f"gke-llm-serving:{k}": v for k, v in config.items()}}))
    return root


@pytest.mark.parametrize("config, line", [
    ({"machineType": "x9-giant"},
     "config machineType='x9-giant' in stack files: not in catalog/machines.csv; use a machine `make plan` accepts"),
    ({"capacity": "spot,reserved"},
     "config capacity='spot,reserved' in stack files: not a list of spot, flex-start, on-demand; fix it as `make plan` says"),
    ({"priceSpot": "cheap"},
     "config priceSpot='cheap' in stack files: not a price; give US dollars per hour for one machine, e.g. 0.80"),
    ({"replicas": "two"}, "config replicas='two' in stack files: not an integer; give a whole number"),
    ({"autoscaling": {"minReplicas": "some"}},
     "config autoscaling='{\"minReplicas\": \"some\"}' in stack files: not an object with an integer minReplicas; "
     "give {\"minReplicas\": N, \"maxReplicas\": M}"),
])
def test_a_stack_file_smoke_cannot_price_stops_it_with_the_whole_line_and_exit_2(tmp_path, config, line):
    # smoke reads the stack files itself (no Pulumi runtime): a value `make plan` would refuse
    # stops it before any request, saying which key and what would work.
    with pytest.raises(smoke.SmokeError) as e:
        cost.ladder_from_stack("t", root=stack_files(tmp_path, config))
    assert (e.value.code, e.value.message) == (2, line)


def test_a_price_of_zero_or_under_a_dollar_is_a_price(tmp_path):
    # Credits or a committed-use discount can make a tier free; most Spot prices are under $1/h.
    ladder = cost.ladder_from_stack("t", root=stack_files(tmp_path, {"priceSpot": "0", "priceFlexStart": "0.5"}))
    assert [(t.name, t.per_hour, t.source) for t in ladder.tiers] == [("spot", 0.0, "config"), ("flex-start", 0.5, "config")]


def test_autoscaling_without_min_replicas_prices_one_replica_as_the_program_deploys(tmp_path):
    # settings' default minReplicas is 1: the smoke test's light load pays for one machine.
    ladder = cost.ladder_from_stack("t", root=stack_files(tmp_path, {"autoscaling": {"maxReplicas": 4}}))
    assert (ladder.replicas, ladder.replicas_source) == (
        1, "stack t autoscaling minReplicas (pass --replicas to price another count)")


def test_a_capacity_set_as_a_comma_separated_string_is_the_same_ladder(tmp_path):
    # `pulumi config set capacity spot,on-demand` stores a plain string, which the program accepts.
    ladder = cost.ladder_from_stack("t", root=stack_files(tmp_path, {"capacity": "spot, on-demand"}))
    assert [t.name for t in ladder.tiers] == ["spot", "on-demand"]


# --- what a person reads ------------------------------------------------------------------------------

def test_number_formats():
    assert [report.seconds(v) for v in (None, 0.1234, 9.9994, 10.0, 123.45)] == [
        "n/a", "0.123 s", "9.999 s", "10.0 s", "123.5 s"]
    assert [report.rate(v) for v in (None, 31.25, 12345.67)] == ["n/a", "31.2", "12,345.7"]
    assert [report.money(v) for v in (None, 1.7747, 1234.5)] == ["n/a", "$1.77", "$1,234.50"]
    assert report.errors_text({"timeout": 1, "http_500": 2}) == "timeout 1, http_500 2"
    assert report.errors_text({}) == "none"


def test_figures_table_and_its_withheld_form():
    s = load.summarize(results(), 5.0)
    assert rendered(report.figures_table(s)).splitlines() == [
        " measure                              p50       p95 ",
        "────────────────────────────────────────────────────",
        " requests ok / sent                 2 / 3           ",
        " errors                         timeout 1           ",
        " time to first token              0.300 s   0.390 s ",
        " end-to-end latency               3.300 s   4.290 s ",
        " output tokens/s, per request        31.2           ",
        " output tokens/s, aggregate          30.4           ",
    ]
    # A failed load shows what happened, never timings or rates taken from its survivors.
    assert "time to first token" not in rendered(report.figures_table(s, withheld=True))


def test_headings_and_notes():
    s = load.summarize(results(), 5.0)
    assert report.figures_heading(s, 4, 128) == "Load: 3 streamed requests, concurrency 4, up to 128 output tokens each"
    assert report.context_note(128, None) is None
    assert report.context_note(4095, 4096) is None
    assert report.context_note(4096, 4096) == "  asked for 4096, but the server's context is 4096 tokens, prompt included"
    assert report.burst_note(s) is None
    bursty = load.summarize([Result(True, ttft_s=0.1, latency_s=0.2, output_tokens=9, bursty=True)] + results()[:1], 1.0)
    assert report.burst_note(bursty) == (
        "  1 of 2 streams arrived in bursts (most tokens under 1 ms apart: a buffering proxy, or a client too busy "
        "to read as they came): left out of the per-request rate; their TTFT may be late")
    ladder = cost.ladder_from_stack("prod")
    assert report.cost_heading(ladder, 250.0) == (
        "Cost at 250.0 output tokens/s, 2 replica(s) of g2-standard-24 "
        "(replicas from stack prod autoscaling minReplicas (pass --replicas to price another count))")


def test_cost_table_per_replica_serving_and_per_million_tokens():
    ladder = cost.ladder_from_stack("prod")
    assert rendered(report.cost_table(ladder, ladder.costs(250.0))).splitlines() == [
        " tier         $/h per replica   $/h serving   $ per 1M output tokens   price source                   ",
        "──────────────────────────────────────────────────────────────────────────────────────────────────────",
        " spot                   $0.80         $1.60                    $1.77   price table                    ",
        " flex-start             $0.94         $1.88                    $2.09   assumption: on-demand less 53% ",
        " on-demand              $2.00         $4.00                    $4.45   price table                    ",
    ]
    unpriced = cost.Ladder("x", (cost.Tier("spot", None, "config"),), 2, "stack", "m")
    assert rendered(report.cost_table(unpriced, unpriced.costs(10.0))).splitlines()[2].split() == [
        "spot", "n/a", "n/a", "n/a", "config"]


# --- what a pipeline reads ----------------------------------------------------------------------------

def build(summary, failure):
    return report.build(url="http://10.0.0.1:8000", stack="prod", engine="tgi", model="m", concurrency=4,
                        max_tokens=128, started_at=datetime(2026, 11, 30, 14, 0, 5, 123, tzinfo=timezone.utc),
                        ladder=cost.ladder_from_stack("prod"), checks={"completions": "ok"}, summary=summary,
                        failure=failure, waited_s=1.5)


def test_json_report_of_a_clean_load():
    s = load.summarize(results()[:2], 5.0)
    got = build(s, None)
    assert got["cost_per_million_output_tokens"] == pytest.approx(
        {"spot": 0.79862 * 2 * 1e6 / (30.4 * 3600), "flex-start": 0.94039 * 2 * 1e6 / (30.4 * 3600),
         "on-demand": 2.00083 * 2 * 1e6 / (30.4 * 3600)})
    del got["cost_per_million_output_tokens"]
    assert got == {
        "ok": True, "failure": None, "url": "http://10.0.0.1:8000", "stack": "prod", "engine": "tgi", "model": "m",
        "started_at": "2026-11-30T14:00:05+00:00", "waited_s": 1.5, "checks": {"completions": "ok"},
        "concurrency": 4, "max_tokens": 128, "requests": 2, "succeeded": 2, "errors": {},
        "ttft_p50_s": s.ttft_p50_s, "ttft_p95_s": s.ttft_p95_s, "latency_p50_s": s.latency_p50_s,
        "latency_p95_s": s.latency_p95_s, "output_tokens": 152, "wall_s": 5.0, "output_tokens_per_s": 30.4,
        "output_tokens_per_s_per_request": 31.25, "output_tokens_counted_from": "usage", "bursty_streams": 0,
        "machine": "g2-standard-24", "replicas": 2,
        "replicas_source": "stack prod autoscaling minReplicas (pass --replicas to price another count)",
        "price_per_hour_per_replica": {"spot": 0.79862, "flex-start": 0.94039, "on-demand": 2.00083},
    }
    assert (s.ttft_p50_s, s.latency_p95_s) == (pytest.approx(0.3), pytest.approx(4.29))


def test_json_report_of_a_failed_load_keeps_counts_and_nulls_every_figure():
    got = build(load.summarize(results(), 5.0), "1 of 3 load requests failed")
    assert (got["ok"], got["failure"], got["requests"], got["succeeded"], got["errors"]) == (
        False, "1 of 3 load requests failed", 3, 2, {"timeout": 1})
    for key in ("ttft_p50_s", "ttft_p95_s", "latency_p50_s", "latency_p95_s", "output_tokens", "wall_s",
                "output_tokens_per_s", "output_tokens_per_s_per_request", "output_tokens_counted_from",
                "bursty_streams"):
        assert got[key] is None, key
    assert got["cost_per_million_output_tokens"] == {"spot": None, "flex-start": None, "on-demand": None}
    nothing = build(None, "cannot reach the endpoint")
    assert (nothing["requests"], nothing["succeeded"], nothing["errors"]) == (0, 0, {})


def test_json_report_that_cannot_be_written_is_a_usage_error(tmp_path):
    with pytest.raises(smoke.SmokeError) as e:
        report.write_json(tmp_path / "missing" / "r.json", {"ok": True})
    assert e.value.code == 2 and e.value.message.startswith(f"--json {tmp_path / 'missing' / 'r.json'}: cannot write it (")
    report.write_json(tmp_path / "r.json", {"ok": True})
    assert json.loads((tmp_path / "r.json").read_text()) == {"ok": True}


def test_exit_statuses_are_the_documented_ones():
    # README and CI scripts test these numbers.
    assert (smoke.EXIT_OK, smoke.EXIT_WRONG, smoke.EXIT_USAGE, smoke.EXIT_INTERRUPTED) == (0, 1, 2, 130)
    assert smoke.SmokeError("a\n  b").message == "a b" and smoke.SmokeError("x").code == 1


# --- progress without a terminal ----------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_plain_progress_prints_on_change_and_every_30_s(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(report.time, "monotonic", clock)
    console = Console(width=110, record=True, file=io.StringIO(), force_terminal=False)
    with report.Activity(console, "waiting for /health") as activity:
        activity.status("503", 1.0)      # new text: printed
        clock.now += 29.9
        activity.status("503", 30.9)     # same text, under 30 s: not printed
        clock.now += 0.1
        activity.status("503", 31.0)     # same text, 30 s on: printed
        activity.status("200", 31.0)     # new text: printed
    assert console.export_text().splitlines() == [
        "waiting for /health: 503 (1 s)", "waiting for /health: 503 (31 s)", "waiting for /health: 200 (31 s)"]


def test_plain_load_progress_prints_the_last_request_and_every_30_s(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(report.time, "monotonic", clock)
    console = Console(width=110, record=True, file=io.StringIO(), force_terminal=False)
    with report.Activity(console, "load", total=3) as activity:
        activity.advance()
        clock.now += 30.0
        activity.advance()
        activity.advance()
    assert console.export_text().splitlines() == ["load: 2/3 done", "load: 3/3 done"]


# --- the command line (option names and defaults are a public interface) ------------------------------

from smoke import options  # noqa: E402


def test_defaults_are_the_documented_ones():
    o = options.parse([])
    assert (o.url, o.stack, o.requests, o.concurrency, o.max_tokens, o.timeout_s, o.wait_s) == (
        None, "dev", 20, 4, 128, 120.0, 1800)
    assert (o.json_path, o.engine, o.model, o.replicas) == (None, None, None, None)
    assert len(o.prompts) == 8 and o.prompts[0] == "[INST] How do I deploy a container on Kubernetes? [/INST]"


@pytest.mark.parametrize("flag, low, high, below, above, bounds", [
    ("--requests", "1", "10000", "0", "10001", "1 to 10000"),
    ("--concurrency", "1", "512", "0", "513", "1 to 512"),
    ("--max-tokens", "1", "32768", "0", "32769", "1 to 32768"),
    ("--timeout", "0.1", "3600", "0.09", "3600.5", "0.1 to 3600"),
    ("--wait", "0", "86400", "-1", "86400.5", "0 to 86400"),
    ("--replicas", "1", "1000", "0", "1001", "1 to 1000"),
])
def test_every_bounded_option_accepts_its_bounds_and_refuses_past_them(flag, low, high, below, above, bounds):
    # Bounds keep every loop finite in count and time, whatever the typo.
    options.parse([flag, low])
    options.parse([flag, high])
    for bad in (below, above):
        with pytest.raises(smoke.SmokeError) as e:
            options.parse([flag, bad])
        shown = str(float(bad)) if flag in ("--timeout", "--wait") else bad
        assert (e.value.code, e.value.message) == (2, f"{flag} {shown}: give a value from {bounds}")


def test_a_usage_mistake_is_one_line_with_exit_2():
    with pytest.raises(smoke.SmokeError) as e:
        options.parse(["--requests", "many"])
    assert e.value.code == 2
    assert e.value.message == "argument --requests: invalid int value: 'many' (see python -m smoke --help)"


def test_url_checks():
    assert options.parse(["--url", "http://127.0.0.1:8080/"]).url == "http://127.0.0.1:8080"
    assert options.parse(["--url", "https://llm.example.com"]).url == "https://llm.example.com"  # TLS in front
    for bad, why in (("ftp://h", "give an http:// or https:// URL, e.g. http://127.0.0.1:8080"),
                     ("http://", "give an http:// or https:// URL, e.g. http://127.0.0.1:8080"),
                     ("http://h:1/V1", "give the server's root, without /v1 (e.g. http://h:1); "
                                      "smoke adds /health and /v1/completions itself")):
        with pytest.raises(smoke.SmokeError) as e:
            options.parse(["--url", bad])
        assert e.value.code == 2 and e.value.message == f"--url {bad.rstrip('/')}: {why}"


def test_json_path_in_a_missing_directory_is_refused_before_the_load(tmp_path):
    with pytest.raises(smoke.SmokeError) as e:
        options.parse(["--json", str(tmp_path / "no" / "r.json")])
    assert e.value.message == f"--json {tmp_path / 'no' / 'r.json'}: no directory {tmp_path / 'no'}"


def test_prompts_file_skips_blank_and_comment_lines(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# heading\n\n  first  \n   # indented comment\nsecond\n")
    assert options.load_prompts(f) == ("first", "second")
    f.write_text("# only a comment\n\n")
    with pytest.raises(smoke.SmokeError) as e:
        options.load_prompts(f)
    assert (e.value.code, e.value.message) == (2, f"--prompts {f}: no prompts in it; put one prompt per line")
    with pytest.raises(smoke.SmokeError) as e:
        options.load_prompts(tmp_path / "none.txt")
    assert e.value.code == 2 and e.value.message.startswith(f"--prompts {tmp_path / 'none.txt'}: cannot read it (FileNotFoundError: ")


def test_display_url_drops_the_user_and_password_only():
    assert options.display_url("http://u:p@h:8000/x") == "http://h:8000/x"
    assert options.display_url("http://u:p@ss@h:8000") == "http://h:8000"  # an @ inside the password
    assert options.display_url("http://h:8000") == "http://h:8000"


def test_redact_replaces_the_password_everywhere_in_a_report():
    url = "http://u:s3cret@h"
    assert options.redact({"a": ["x s3cret", {"b": "s3cret"}], "n": 1}, url) == {"a": ["x ***", {"b": "***"}], "n": 1}
    assert options.redact("s3cret", None) == "s3cret"
    assert options.redact("s3cret", "http://h") == "s3cret"


def test_on_a_terminal_progress_is_a_live_spinner_showing_the_status():
    console = Console(width=110, file=io.StringIO(), force_terminal=True)
    with report.Activity(console, "load", total=3) as activity:
        assert activity.live is True
        activity.status("2 in flight", 1.0)
        activity.advance()
        task = activity._progress.tasks[0]
        assert (task.description, task.total, task.completed) == ("load: 2 in flight", 3, 1)
        assert [type(c).__name__ for c in activity._progress.columns] == [
            "SpinnerColumn", "TextColumn", "BarColumn", "MofNCompleteColumn", "TimeElapsedColumn"]
        assert activity._progress.live.transient is True  # the spinner leaves no trace in the scrollback


def test_the_json_start_time_is_utc_whatever_the_machines_time_zone(monkeypatch):
    import time as time_module
    monkeypatch.setenv("TZ", "America/New_York")
    time_module.tzset()
    try:
        got = build(None, "x")["started_at"]
    finally:
        monkeypatch.delenv("TZ")
        time_module.tzset()
    assert got == "2026-11-30T14:00:05+00:00"


HELP = """usage: python -m smoke [-h] [--url URL] [--stack STACK] [--requests REQUESTS]
                       [--concurrency CONCURRENCY] [--max-tokens MAX_TOKENS] [--timeout TIMEOUT]
                       [--wait WAIT] [--prompts FILE] [--json FILE] [--engine {tgi,vllm}]
                       [--model MODEL] [--replicas REPLICAS]

Check that the deployed model answers, then measure TTFT, latency, tokens per second and $ per
million output tokens on each capacity tier.

options:
  -h, --help            show this help message and exit
  --url URL             endpoint, e.g. http://127.0.0.1:8080 (default: discovered from the stack
                        outputs)
  --stack STACK         stack for prices, replicas and discovery (default dev)
  --requests REQUESTS   load requests (default 20)
  --concurrency CONCURRENCY
                        requests in flight at once (default 4)
  --max-tokens MAX_TOKENS
                        max output tokens per request (default 128)
  --timeout TIMEOUT     seconds one request may take, streaming included (default 120)
  --wait WAIT           seconds to wait for /health to answer 200 (default 1800)
  --prompts FILE        file of prompts, one per line ('#' lines ignored); default: a built-in set
                        of 8
  --json FILE           also write the report as JSON to FILE
  --engine {tgi,vllm}   serving engine, for the report (default: the stack output `engine`, if
                        any)
  --model MODEL         model name sent in requests (default: the server's /v1/models)
  --replicas REPLICAS   replicas serving, for the cost (default: the stack's replicas or
                        autoscaling minReplicas)
"""


def test_the_help_says_each_option_and_its_default(monkeypatch):
    # `python -m smoke --help` is where a user learns the options and their defaults (and the
    # program name prefixes every usage error): pinned whole, at 100 columns.
    from smoke import options
    monkeypatch.setenv("COLUMNS", "100")
    assert options.parser().format_help() == HELP
