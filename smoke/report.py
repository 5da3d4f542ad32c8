"""What a person sees (progress on stderr, the tables on stdout) and what a pipeline reads (--json)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from smoke import EXIT_USAGE, SmokeError
from smoke.cost import Ladder
from smoke.load import Summary

# Without a terminal (CI logs, `make smoke | tee`) a spinner cannot redraw: print a plain line when
# the status changes, and at least this often while it does not, so a long wait shows it is alive.
PLAIN_EVERY_S = 30.0


class Activity:
    """A rich spinner (and bar, with a total) on a terminal; plain progress lines elsewhere."""

    def __init__(self, console: Console, description: str, total: Optional[int] = None):
        self.console, self.description, self.total = console, description, total
        self.live = console.is_terminal
        self._done = 0
        self._last_text, self._last_print = "", time.monotonic()
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        self._progress = Progress(*columns, TimeElapsedColumn(), console=console, transient=True)
        self._task = None

    def __enter__(self) -> "Activity":
        if self.live:
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self._progress.stop()

    def status(self, text: str, elapsed_s: float) -> None:
        if self.live:
            self._progress.update(self._task, description=f"{self.description}: {text}")
            return
        now = time.monotonic()
        if text != self._last_text or now - self._last_print >= PLAIN_EVERY_S:
            self.console.print(f"{self.description}: {text} ({elapsed_s:.0f} s)", highlight=False)
            self._last_text, self._last_print = text, now

    def advance(self) -> None:
        self._done += 1
        if self.live:
            self._progress.advance(self._task)
        elif self.total and (self._done == self.total or time.monotonic() - self._last_print >= PLAIN_EVERY_S):
            self.console.print(f"{self.description}: {self._done}/{self.total} done", highlight=False)
            self._last_print = time.monotonic()


def seconds(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def rate(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def money(value: Optional[float]) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in errors.items()) or "none"


def figures_heading(s: Summary, concurrency: int, max_tokens: int) -> str:
    return f"Load: {s.requests} streamed requests, concurrency {concurrency}, up to {max_tokens} output tokens each"


def context_note(max_tokens: int, context: Optional[int]) -> Optional[str]:
    """A line under the heading when --max-tokens cannot be reached: the prompt takes part of the
    server's context too (vLLM lists it as max_model_len on /v1/models)."""
    if context is None or max_tokens < context:
        return None
    return f"  asked for {max_tokens}, but the server's context is {context} tokens, prompt included"


def figures_table(s: Summary, withheld: bool = False) -> Table:
    """The load's figures; with `withheld` (a failed or interrupted load) only what happened: the
    counts and errors, never timings or rates taken from the survivors."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    t.add_column("measure")
    t.add_column("p50", justify="right")
    t.add_column("p95", justify="right")
    t.add_row("requests ok / sent", f"{s.succeeded} / {s.requests}", "")
    t.add_row("errors", errors_text(s.errors), "")
    if withheld:
        return t
    t.add_row("time to first token", seconds(s.ttft_p50_s), seconds(s.ttft_p95_s))
    t.add_row("end-to-end latency", seconds(s.latency_p50_s), seconds(s.latency_p95_s))
    t.add_row("output tokens/s, per request", rate(s.output_tokens_per_s_per_request), "")
    t.add_row("output tokens/s, aggregate", rate(s.output_tokens_per_s), "")
    return t


def burst_note(s: Summary) -> Optional[str]:
    if not s.bursty:
        return None
    return (f"  {s.bursty} of {s.succeeded} streams arrived in bursts (most tokens under 1 ms apart: a buffering "
            "proxy, or a client too busy to read as they came): left out of the per-request rate; their TTFT may "
            "be late")


def cost_heading(ladder: Ladder, output_tokens_per_s: Optional[float]) -> str:
    return (f"Cost at {rate(output_tokens_per_s)} output tokens/s, {ladder.replicas} replica(s) of {ladder.machine} "
            f"(replicas from {ladder.replicas_source})")


def cost_table(ladder: Ladder, costs: dict[str, Optional[float]]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for name, justify in (("tier", "left"), ("$/h per replica", "right"), ("$/h serving", "right"),
                          ("$ per 1M output tokens", "right"), ("price source", "left")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for tier in ladder.tiers:
        serving = None if tier.per_hour is None else tier.per_hour * ladder.replicas
        t.add_row(tier.name, money(tier.per_hour), money(serving), money(costs[tier.name]), tier.source)
    return t


def build(*, url: str, stack: str, engine: Optional[str], model: Optional[str], concurrency: int, max_tokens: int,
          started_at: datetime, ladder: Ladder, checks: dict[str, str], summary: Optional[Summary],
          failure: Optional[str], waited_s: Optional[float]) -> dict[str, Any]:
    """The --json report. On any failure (a check, load errors, an interruption) every measured
    figure and cost is null: a partly failed load's survivors are a biased sample and its wall time
    includes the failures, so its rate and cost would mislead a pipeline that reads them. What
    happened is still there: `requests` (sent), `succeeded` and `errors` by kind."""
    s = summary
    m = s if s is not None and failure is None else None  # the figures, only from a clean load
    costs = ladder.costs(m.output_tokens_per_s if m else None)
    return {
        "ok": failure is None,
        "failure": failure,
        "url": url,
        "stack": stack,
        "engine": engine,
        "model": model,
        "started_at": started_at.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "waited_s": waited_s,
        "checks": checks,
        "concurrency": concurrency,
        "max_tokens": max_tokens,
        "requests": s.requests if s else 0,
        "succeeded": s.succeeded if s else 0,
        "errors": s.errors if s else {},
        "ttft_p50_s": m.ttft_p50_s if m else None,
        "ttft_p95_s": m.ttft_p95_s if m else None,
        "latency_p50_s": m.latency_p50_s if m else None,
        "latency_p95_s": m.latency_p95_s if m else None,
        "output_tokens": m.output_tokens if m else None,
        "wall_s": m.wall_s if m else None,
        "output_tokens_per_s": m.output_tokens_per_s if m else None,
        "output_tokens_per_s_per_request": m.output_tokens_per_s_per_request if m else None,
        "output_tokens_counted_from": m.tokens_from if m else None,
        "bursty_streams": m.bursty if m else None,
        "machine": ladder.machine,
        "replicas": ladder.replicas,
        "replicas_source": ladder.replicas_source,
        "price_per_hour_per_replica": {t.name: t.per_hour for t in ladder.tiers},
        "cost_per_million_output_tokens": costs,
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as e:
        raise SmokeError(f"--json {path}: cannot write it ({e.strerror or e})", EXIT_USAGE) from None
