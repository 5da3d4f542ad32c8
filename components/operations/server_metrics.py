"""What a model server exports to Prometheus: the names the HPA, the PodMonitoring, the dashboard
and the alerts are built from. Plain data, one instance per engine, in the engine's module
(components/serving/engines/tgi.py, vllm.py); a wrong name makes the HPA wait forever for a metric that never
comes, so every name is checked against a source.

Sources, read for these names:
- TGI: huggingface/text-generation-inference docs/source/reference/metrics.md @db931fcf (TGI 3.x
  metrics reference), and router/src/server.rs @db931fcf: the router serves `/metrics` on its main
  HTTP port in the unauthenticated `info_routes`. (The PROMETHEUS_PORT listener of 3.3+ serves nothing:
  the router drops the exporter future that would bind it, router/src/server.rs@v3.3.7.) The names as Managed Prometheus stores them
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
