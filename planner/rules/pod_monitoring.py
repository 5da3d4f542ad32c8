"""Rules a PodMonitoring must satisfy for Managed Prometheus to accept it and scrape what we mean.

Written from the CRD Google ships (GoogleCloudPlatform/prometheus-engine
charts/operator/crds/monitoring.googleapis.com_podmonitorings.yaml and
pkg/operator/apis/monitoring/v1/pod_types.go @2ffde4ec): `spec.selector` and `spec.endpoints` are
required, 1 to 10 endpoints, each with a required `port` (name or number) and a required `interval`
(a Prometheus duration), an optional `timeout` no longer than the interval (a CEL rule in the CRD
and a check in common_types.go buildPrometheusScrapeConfig), `scheme` http|https, `path` (default
/metrics). Only the fields this project writes are allowed. Pure Python, no Pulumi: the component
checks its object before creating it and the offline plan checks what it rendered.
"""

from __future__ import annotations

import re
from typing import Any

API_VERSION = "monitoring.googleapis.com/v1"
KIND = "PodMonitoring"

# Prometheus duration syntax (prometheus/common model.ParseDuration, which the operator calls):
# units in descending order, each at most once, or a bare 0.
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNIT_MS = (365 * 86400_000, 7 * 86400_000, 86400_000, 3600_000, 60_000, 1000, 1)

# A container port name is an IANA_SVC_NAME (Kubernetes core validation): at most 15 characters,
# lowercase letters, digits and '-', at least one letter, no leading, trailing or double '-'.
_PORT_NAME = re.compile(r"(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?=[a-z0-9])){0,14}")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

_ENDPOINT_FIELDS = ("port", "path", "interval", "timeout", "scheme")
_SPEC_FIELDS = ("selector", "endpoints")
_SELECTOR_FIELDS = ("matchLabels",)


def duration_ms(text: Any) -> int | None:
    """Milliseconds in a Prometheus duration, or None when it is not one (or is empty)."""
    if not isinstance(text, str) or not text:
        return None
    if text == "0":
        return 0
    match = _DURATION.fullmatch(text)
    if not match:
        return None
    return sum(int(v) * unit for v, unit in zip(match.groups(), _UNIT_MS) if v)


def _is_port(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)) and float(value).is_integer():
        return 1 <= int(value) <= 65535
    return isinstance(value, str) and bool(_PORT_NAME.fullmatch(value))


def _unknown(obj: dict, allowed: tuple, where: str, errors: list[str]) -> None:
    for key in obj:
        if key not in allowed:
            errors.append(f"{where}.{key}: unknown field (allowed: {', '.join(allowed)})")


def _endpoint(ep: Any, where: str, errors: list[str]) -> None:
    if not isinstance(ep, dict):
        errors.append(f"{where}: must be an object")
        return
    _unknown(ep, _ENDPOINT_FIELDS, where, errors)
    if "port" not in ep:
        errors.append(f"{where}.port: required (the container port name or number to scrape)")
    elif not _is_port(ep["port"]):
        errors.append(f"{where}.port: {ep['port']!r} must be a port number 1-65535 or a container port name "
                      "(at most 15 lowercase letters, digits, '-')")
    if "path" in ep and not (isinstance(ep["path"], str) and ep["path"].startswith("/")):
        errors.append(f"{where}.path: {ep['path']!r} must be an absolute HTTP path such as /metrics")
    if "scheme" in ep and ep["scheme"] not in ("http", "https"):
        errors.append(f"{where}.scheme: {ep['scheme']!r} must be http or https")
    interval = duration_ms(ep.get("interval"))
    if "interval" not in ep:
        errors.append(f"{where}.interval: required (a Prometheus duration such as 15s)")
    elif interval is None or interval == 0:
        errors.append(f"{where}.interval: {ep['interval']!r} must be a positive Prometheus duration such as 15s or 1m")
    if "timeout" in ep:
        timeout = duration_ms(ep["timeout"])
        if timeout is None or timeout == 0:
            errors.append(f"{where}.timeout: {ep['timeout']!r} must be a positive Prometheus duration such as 10s")
        elif interval and timeout > interval:
            errors.append(f"{where}.timeout: {ep['timeout']!r} must not be longer than the interval {ep['interval']!r}")


def validate(obj: dict) -> list[str]:
    """Every rule the object breaks, each as "field.path: what is wrong". Empty when it is valid."""
    errors: list[str] = []
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != KIND:
        errors.append(f"apiVersion/kind: must be {API_VERSION} {KIND}")
    _unknown(obj, ("apiVersion", "kind", "metadata", "spec"), "(object)", errors)
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        errors.append(f"metadata.name: {name!r} must be a DNS subdomain (it becomes the `job` label of every series)")
    if not isinstance(metadata.get("namespace"), str) or not metadata.get("namespace"):
        errors.append("metadata.namespace: required (a PodMonitoring selects pods in its own namespace)")

    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return errors + ["spec: required"]
    _unknown(spec, _SPEC_FIELDS, "spec", errors)

    selector = spec.get("selector")
    if not isinstance(selector, dict):
        errors.append("spec.selector: required")
    else:
        _unknown(selector, _SELECTOR_FIELDS, "spec.selector", errors)
        labels = selector.get("matchLabels")
        if not isinstance(labels, dict) or not labels:
            # An empty selector selects every pod in the namespace: scraping whatever else runs there.
            errors.append("spec.selector.matchLabels: required, a non-empty map (an empty selector scrapes every pod)")
        else:
            for key, value in labels.items():
                if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
                    errors.append(f"spec.selector.matchLabels.{key}: {value!r} must be a label value")

    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not 1 <= len(endpoints) <= 10:
        errors.append("spec.endpoints: required, a list of 1 to 10 endpoints")
        endpoints = endpoints if isinstance(endpoints, list) else []
    for i, ep in enumerate(endpoints):
        _endpoint(ep, f"spec.endpoints[{i}]", errors)
    return errors
