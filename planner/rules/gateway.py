"""Rules the multi-cluster front door's objects must satisfy: ServiceExport, Gateway, HTTPRoute,
HealthCheckPolicy and GCPBackendPolicy, written from what GKE documents and ships:

- ServiceExport (net.gke.io/v1): metadata only, named and namespaced like the Service it exports
  (GKE "Configuring multi-cluster Services"; the ServiceImport takes the same name).
- Gateway and HTTPRoute (gateway.networking.k8s.io/v1, Gateway API standard channel): a Gateway has
  `gatewayClassName` and 1-64 `listeners` (name, port 1-65535, protocol); an HTTPRoute has
  `parentRefs` and `rules`, each rule with `matches` (path type Exact or PathPrefix, value starting
  with "/") and `backendRefs` (group/kind/name/port) (gateway-api apis/v1 httproute_types.go,
  gateway_types.go; at most 8 matches per rule, 16 rules).
- HealthCheckPolicy and GCPBackendPolicy (networking.gke.io/v1, GKE "Configure Gateway resources
  using Policies"): `targetRef` (group, kind, name) and `default`; health check intervals and
  timeouts 1-300 s, thresholds 1-10, `timeoutSec` of a backend policy 1-86400 s, `maxRatePerEndpoint`
  a positive number. In a multi-cluster Gateway the policies target the ServiceImport
  (group net.gke.io, kind ServiceImport).

Only the fields this project writes are allowed: a typo is a problem, not an ignored key. Pure
Python, no Pulumi: the component checks its objects before creating them, the plan checks what it
rendered (planner/validate.py).
"""

from __future__ import annotations

import re
from typing import Any

GATEWAY_API = "gateway.networking.k8s.io/v1"
# The cross-regional internal class takes one ephemeral frontend per region (GKE multi-cluster Gateway samples).
EPHEMERAL_ADDRESS = "networking.gke.io/ephemeral-ipv4-address"
MCS_API = "net.gke.io/v1"
GKE_POLICY_API = "networking.gke.io/v1"
KINDS = {(MCS_API, "ServiceExport"), (GATEWAY_API, "Gateway"), (GATEWAY_API, "HTTPRoute"),
         (GKE_POLICY_API, "HealthCheckPolicy"), (GKE_POLICY_API, "GCPBackendPolicy")}
MC_CLASSES = ("gke-l7-global-external-managed-mc", "gke-l7-cross-regional-internal-managed-mc")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_METADATA = ("name", "namespace", "labels", "annotations")


def handles(obj: dict) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in KINDS


def _unknown(obj: Any, allowed: tuple, where: str, errors: list[str]) -> bool:
    if not isinstance(obj, dict):
        errors.append(f"{where}: must be an object")
        return False
    for key in obj:
        if key not in allowed:
            errors.append(f"{where}.{key}: unknown field (allowed: {', '.join(allowed)})")
    return True


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _metadata(obj: dict, errors: list[str]) -> None:
    meta = obj.get("metadata")
    if _unknown(meta, _METADATA, "metadata", errors):
        for key in ("name", "namespace"):
            if not isinstance(meta.get(key), str) or not _DNS_LABEL.fullmatch(meta[key]):
                errors.append(f"metadata.{key}: required, a DNS label")


def _target(spec: dict, errors: list[str]) -> None:
    ref = spec.get("targetRef")
    if _unknown(ref, ("group", "kind", "name"), "spec.targetRef", errors):
        if (ref.get("group"), ref.get("kind")) not in (("net.gke.io", "ServiceImport"), ("", "Service")):
            errors.append("spec.targetRef: must name a ServiceImport (group net.gke.io) or a Service (group \"\")")
        if not isinstance(ref.get("name"), str) or not _DNS_LABEL.fullmatch(ref.get("name", "")):
            errors.append("spec.targetRef.name: required, a DNS label")


def _gateway(spec: dict, errors: list[str]) -> None:
    _unknown(spec, ("gatewayClassName", "addresses", "listeners"), "spec", errors)
    addresses = spec.get("addresses")
    if addresses is not None:
        if not isinstance(addresses, list) or not addresses:
            errors.append("spec.addresses: a non-empty list when given")
        else:
            for i, a in enumerate(addresses):
                region = str((a or {}).get("type", "")).rsplit("/", 1)[-1]
                if not isinstance(a, dict) or not str(a.get("type", "")).startswith(EPHEMERAL_ADDRESS + "/") \
                        or a.get("value") != region:
                    errors.append(f"spec.addresses[{i}]: type {EPHEMERAL_ADDRESS}/<region> with that region as value")
    if spec.get("gatewayClassName") not in MC_CLASSES:
        errors.append(f"spec.gatewayClassName: {spec.get('gatewayClassName')!r} is not a multi-cluster class ({', '.join(MC_CLASSES)})")
    listeners = spec.get("listeners")
    if not isinstance(listeners, list) or not 1 <= len(listeners) <= 64:
        errors.append("spec.listeners: 1 to 64 listeners")
        return
    for i, listener in enumerate(listeners):
        where = f"spec.listeners[{i}]"
        if _unknown(listener, ("name", "port", "protocol"), where, errors):
            if not _int_in(listener.get("port"), 1, 65535):
                errors.append(f"{where}.port: 1-65535")
            if listener.get("protocol") not in ("HTTP", "HTTPS"):
                errors.append(f"{where}.protocol: HTTP or HTTPS")
            if not isinstance(listener.get("name"), str) or not _DNS_LABEL.fullmatch(listener.get("name", "")):
                errors.append(f"{where}.name: required, a DNS label")


def _route(spec: dict, errors: list[str]) -> None:
    _unknown(spec, ("parentRefs", "rules"), "spec", errors)
    parents = spec.get("parentRefs")
    if not isinstance(parents, list) or not parents:
        errors.append("spec.parentRefs: at least one Gateway")
    else:
        for i, ref in enumerate(parents):
            if _unknown(ref, ("group", "kind", "name"), f"spec.parentRefs[{i}]", errors) and not ref.get("name"):
                errors.append(f"spec.parentRefs[{i}].name: required")
    rules = spec.get("rules")
    if not isinstance(rules, list) or not 1 <= len(rules) <= 16:
        errors.append("spec.rules: 1 to 16 rules")
        return
    for i, rule in enumerate(rules):
        where = f"spec.rules[{i}]"
        if not _unknown(rule, ("matches", "backendRefs"), where, errors):
            continue
        matches = rule.get("matches")
        if not isinstance(matches, list) or not 1 <= len(matches) <= 8:
            errors.append(f"{where}.matches: 1 to 8 matches (none would match every path)")
        else:
            for j, match in enumerate(matches):
                if _unknown(match, ("path",), f"{where}.matches[{j}]", errors):
                    path = match.get("path")
                    if _unknown(path, ("type", "value"), f"{where}.matches[{j}].path", errors):
                        if path.get("type") not in ("Exact", "PathPrefix"):
                            errors.append(f"{where}.matches[{j}].path.type: Exact or PathPrefix")
                        if not isinstance(path.get("value"), str) or not path["value"].startswith("/"):
                            errors.append(f"{where}.matches[{j}].path.value: a path starting with /")
        backends = rule.get("backendRefs")
        if not isinstance(backends, list) or not backends:
            errors.append(f"{where}.backendRefs: at least one backend")
            continue
        for j, ref in enumerate(backends):
            bwhere = f"{where}.backendRefs[{j}]"
            if _unknown(ref, ("group", "kind", "name", "port"), bwhere, errors):
                if (ref.get("group"), ref.get("kind")) != ("net.gke.io", "ServiceImport"):
                    errors.append(f"{bwhere}: a multi-cluster route's backend is a ServiceImport (group net.gke.io)")
                if not _int_in(ref.get("port"), 1, 65535):
                    errors.append(f"{bwhere}.port: 1-65535 (a ServiceImport backend needs its port)")


def _health_check(spec: dict, errors: list[str]) -> None:
    _unknown(spec, ("default", "targetRef"), "spec", errors)
    _target(spec, errors)
    default = spec.get("default")
    if not _unknown(default, ("checkIntervalSec", "timeoutSec", "healthyThreshold", "unhealthyThreshold", "config"),
                    "spec.default", errors):
        return
    for key, low, high in (("checkIntervalSec", 1, 300), ("timeoutSec", 1, 300), ("healthyThreshold", 1, 10),
                           ("unhealthyThreshold", 1, 10)):
        if key in default and not _int_in(default[key], low, high):
            errors.append(f"spec.default.{key}: {low}-{high}")
    if _int_in(default.get("timeoutSec"), 1, 300) and _int_in(default.get("checkIntervalSec"), 1, 300) \
            and default["timeoutSec"] > default["checkIntervalSec"]:
        errors.append("spec.default.timeoutSec: not longer than checkIntervalSec")
    config = default.get("config")
    if _unknown(config, ("type", "httpHealthCheck"), "spec.default.config", errors):
        if config.get("type") != "HTTP":
            errors.append("spec.default.config.type: HTTP (the engines serve plain HTTP)")
        http = config.get("httpHealthCheck")
        if _unknown(http, ("port", "requestPath"), "spec.default.config.httpHealthCheck", errors):
            if not _int_in(http.get("port"), 1, 65535):
                errors.append("spec.default.config.httpHealthCheck.port: 1-65535")
            if not isinstance(http.get("requestPath"), str) or not http["requestPath"].startswith("/"):
                errors.append("spec.default.config.httpHealthCheck.requestPath: a path starting with /")


def _backend_policy(spec: dict, errors: list[str]) -> None:
    _unknown(spec, ("default", "targetRef"), "spec", errors)
    _target(spec, errors)
    default = spec.get("default")
    if not _unknown(default, ("timeoutSec", "maxRatePerEndpoint"), "spec.default", errors):
        return
    if "timeoutSec" in default and not _int_in(default["timeoutSec"], 1, 86400):
        errors.append("spec.default.timeoutSec: 1-86400")
    rate = default.get("maxRatePerEndpoint")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
        errors.append("spec.default.maxRatePerEndpoint: a positive number of requests per second")


def validate(obj: dict) -> list[str]:
    """Problems with one front-door object (empty when it is fine)."""
    errors: list[str] = []
    _unknown(obj, ("apiVersion", "kind", "metadata", "spec"), "(object)", errors)
    _metadata(obj, errors)
    kind, spec = obj.get("kind"), obj.get("spec")
    if kind == "ServiceExport":
        if spec not in (None, {}):
            errors.append("spec: a ServiceExport has no spec")
        return errors
    if not isinstance(spec, dict):
        return errors + ["spec: required"]
    {"Gateway": _gateway, "HTTPRoute": _route, "HealthCheckPolicy": _health_check,
     "GCPBackendPolicy": _backend_policy}[kind](spec, errors)
    return errors
