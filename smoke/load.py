"""The short load: N streamed requests, at most C in flight, each bounded by the request timeout;
then the figures computed from their timings."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import httpx

from smoke.client import Result, stream_completion


class Progress:
    """What the load has done so far, kept outside the coroutine so an interrupted run can still
    report the requests sent and the results that came back."""

    def __init__(self) -> None:
        self.sent = 0
        self.results: list[Result] = []
        self.started_at: Optional[float] = None

    def wall_s(self) -> float:
        return 0.0 if self.started_at is None else time.perf_counter() - self.started_at


async def run_load(client: httpx.AsyncClient, model: str, prompts: Sequence[str], requests: int, concurrency: int,
                   max_tokens: int, timeout_s: float, on_done: Callable[[Result], None], *, usage: bool,
                   progress: Progress) -> tuple[list[Result], float]:
    """(results in send order, wall seconds from the first send to the last answer).

    Bounded: exactly `requests` requests, each cut at `timeout_s`, so the whole load lasts at most
    ceil(requests / concurrency) x timeout_s. `usage`: ask for the server's token count
    (stream_options), as the stream check settled for the whole run. `progress`: kept by the caller,
    who reports from it when the run is interrupted."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Result:
        async with gate:
            progress.sent += 1
            result = await stream_completion(client, model, prompts[i % len(prompts)], max_tokens, timeout_s,
                                             usage=usage)
        progress.results.append(result)
        on_done(result)
        return result

    progress.started_at = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(requests)))
    return list(results), progress.wall_s()


def percentile(values: Sequence[float], p: float) -> Optional[float]:
    """The p-th percentile (0..100) with linear interpolation between closest ranks (numpy's
    default), so p50 of [1, 2] is 1.5 and a single value is every percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    requests: int
    succeeded: int
    errors: dict[str, int]  # kind -> count
    error_details: dict[str, str]  # kind -> the first detail seen, for the failure line
    ttft_p50_s: Optional[float]
    ttft_p95_s: Optional[float]
    latency_p50_s: Optional[float]
    latency_p95_s: Optional[float]
    output_tokens: int
    wall_s: float
    output_tokens_per_s: Optional[float]  # aggregate: all successful output over the load's wall time
    output_tokens_per_s_per_request: Optional[float]  # median decode speed one user sees
    tokens_from: Optional[str]  # "usage" or "chunks": settled once per run by the stream check
    bursty: int = 0  # successful requests whose stream arrived in bursts (left out of the per-request rate)
    longest_output: int = 0  # the most output tokens one request got


def summarize(results: Sequence[Result], wall_s: float, in_flight: int = 0) -> Summary:
    """The figures of a load. `in_flight`: requests sent but not answered when the run was
    interrupted; they count as sent, with the error kind `interrupted`."""
    ok = [r for r in results if r.ok]
    errors = Counter(r.error for r in results if not r.ok)
    if in_flight:
        errors["interrupted"] += in_flight
    details: dict[str, str] = {}
    for r in results:
        if not r.ok and r.error not in details:
            details[r.error] = r.detail
    if in_flight:
        details.setdefault("interrupted", "sent, with no answer yet when the run was interrupted")
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    latencies = [r.latency_s for r in ok if r.latency_s is not None]
    rates = [r.tokens_per_s for r in ok if r.tokens_per_s is not None]
    tokens = sum(r.output_tokens for r in ok)
    sources = sorted({r.tokens_from for r in ok if r.tokens_from})
    return Summary(
        requests=len(results) + in_flight,
        succeeded=len(ok),
        errors=dict(sorted(errors.items())),
        error_details=details,
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p95_s=percentile(ttfts, 95),
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
        output_tokens=tokens,
        wall_s=wall_s,
        output_tokens_per_s=tokens / wall_s if tokens and wall_s > 0 else None,
        output_tokens_per_s_per_request=percentile(rates, 50),
        tokens_from=" and ".join(sources) or None,
        bursty=sum(r.bursty for r in ok),
        longest_output=max((r.output_tokens for r in ok), default=0),
    )
