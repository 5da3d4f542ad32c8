"""Serving engines behind one small interface. Everything engine-specific (image, command and env,
port, health and metrics paths, token and API-key variables, quantization names, shutdown timing,
memory headroom) lives in one module per engine; the Deployment, probes, Service, NetworkPolicy,
exports, query command and plan only talk to an `Engine`. A third engine is one more module here
and its rows in catalog/engine-quantizations.csv.
"""

from __future__ import annotations

from components.serving.engines.base import Container, Engine, Launch  # noqa: F401
from components.serving.engines import tgi, vllm

ENGINES: dict[str, Engine] = {e.name: e for e in (tgi.ENGINE, vllm.ENGINE)}
