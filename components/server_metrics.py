"""What a model server exports to Prometheus: the names the HPA, the PodMonitoring, the dashboard
and the alerts are built from. Plain data, one instance per engine; a wrong name here makes the HPA
wait forever for a metric that never comes, so every name below is checked against a source.

Sources, read for these names:
- TGI: huggingface/text-generation-inference docs/source/reference/metrics.md @db931fcf (TGI 3.x
  metrics reference), and router/src/server.rs @db931fcf: the router serves `/metrics` on its main
  HTTP port in the unauthenticated `info_routes` (besides the separate PROMETHEUS_PORT listener,
  default 9000, of launcher/src/main.rs). The names as Managed Prometheus stores them
  (`prometheus.googleapis.com/tgi_request_count/counter`, ...) are in
  GoogleCloudPlatform/monitoring-dashboard-samples integrations/tgi/prometheus_metadata.yaml and
  dashboards/tgi/tgi-prometheus.json @25d8c3e8.
- vLLM: vllm-project/vllm docs/design/metrics.md ("v1 Metrics", vllm:num_requests_running,
  vllm:generation_tokens_total, vllm:time_to_first_token_seconds, vllm:e2e_request_latency_seconds,
  ...), vllm/v1/metrics/loggers.py (vllm:num_requests_waiting, vllm:num_requests_running gauges),
  and the names GMP ingests in monitoring-dashboard-samples integrations/vllm/prometheus_metadata.yaml
  and dashboards/vllm/vllm-prometheus-2.json @25d8c3e8 (the dashboard for current vLLM names;
  vllm:gpu_cache_usage_perc and vllm:time_per_output_token_seconds are the retired names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

TokensKind = Literal["counter", "histogram"]


@dataclass(frozen=True)
class ServerMetrics:
    """The Prometheus names one engine exports and where to scrape them."""

    engine: str  # "tgi" | "vllm": for titles only
    queue: str  # gauge: requests waiting for a batch slot (the HPA metric)
    running: str  # gauge: requests in the running batch
    request_latency: str  # histogram base name (without _bucket): end-to-end request latency, seconds
    time_to_first_token: Optional[str]  # histogram base name, seconds; None when the engine has none
    generated_tokens: str  # a counter, or a histogram whose _sum counts tokens (see generated_tokens_kind)
    generated_tokens_kind: TokensKind
    port_name: str = "http"  # the named container port that serves `path`
    path: str = "/metrics"


TGI_METRICS = ServerMetrics(
    engine="tgi",
    queue="tgi_queue_size",  # Gauge "Current queue size"
    running="tgi_batch_current_size",  # Gauge "Current batch size"
    request_latency="tgi_request_duration",  # Histogram "Total time spent processing the request (e2e latency)"
    # TGI has no time-to-first-token histogram. tgi_request_queue_duration is the time in the queue
    # only (no prefill), so it is not shown as if it were TTFT.
    time_to_first_token=None,
    # Histogram "Generated tokens per request": rate(_sum) is tokens per second. It is recorded when a
    # request ends, so a long generation shows up at its end, not while it streams.
    generated_tokens="tgi_request_generated_tokens",
    generated_tokens_kind="histogram",
)

VLLM_METRICS = ServerMetrics(
    engine="vllm",
    queue="vllm:num_requests_waiting",  # Gauge "Number of requests waiting to be processed."
    running="vllm:num_requests_running",  # Gauge "Number of requests in model execution batches."
    request_latency="vllm:e2e_request_latency_seconds",  # Histogram "e2e request latency in seconds"
    time_to_first_token="vllm:time_to_first_token_seconds",  # Histogram "time to first token in seconds"
    # Counter `vllm:generation_tokens` in code; prometheus_client exposes it as ..._total, and GMP
    # stores prometheus.googleapis.com/vllm:generation_tokens_total/counter.
    generated_tokens="vllm:generation_tokens_total",
    generated_tokens_kind="counter",
)

METRICS_BY_ENGINE = {m.engine: m for m in (TGI_METRICS, VLLM_METRICS)}
