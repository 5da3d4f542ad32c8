"""Validation of what the plan renders: Kubernetes objects strictly against the Kubernetes 1.34
OpenAPI schemas shipped by the kubernetes-validate package (unknown fields are errors), and the
CRDs against the project's own rules (planner/rules/: compute_class.py, pod_monitoring.py,
gateway.py)."""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

import jsonschema
from referencing import Registry, Resource

from planner.rules import compute_class as compute_class_rules
from planner.rules import gateway as gateway_rules
from planner.rules import pod_monitoring as pod_monitoring_rules

KUBERNETES_VERSION = "1.34"
_SCHEMAS = f"kubernetes-json-schema/v{KUBERNETES_VERSION}.0-local-strict"


@functools.cache
def _registry() -> Registry:
    # Loaded once: the definitions file is 1.5 MB and every object refers into it.
    definitions = json.loads(resources.files("kubernetes_validate").joinpath(_SCHEMAS, "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


@functools.cache
def _validator(kind: str, api_version: str):
    # Same file naming as kubernetes-validate: rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = resources.files("kubernetes_validate").joinpath(_SCHEMAS, f"{kind.lower()}-{group_version}.json")
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=Resource.from_contents(schema) @ _registry())


def object_label(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def validate_object(obj: dict) -> list[str]:
    """Problems with one rendered object, each "Kind ns/name: field.path: message"."""
    label = object_label(obj)
    if obj.get("apiVersion") == "cloud.google.com/v1" and obj.get("kind") == "ComputeClass":
        return [f"{label}: {e}" for e in compute_class_rules.validate(obj)]
    if obj.get("apiVersion") == pod_monitoring_rules.API_VERSION and obj.get("kind") == pod_monitoring_rules.KIND:
        return [f"{label}: {e}" for e in pod_monitoring_rules.validate(obj)]
    if gateway_rules.handles(obj):  # the multi-region front door (ServiceExport, Gateway, route, policies)
        return [f"{label}: {e}" for e in gateway_rules.validate(obj)]
    validator = _validator(obj.get("kind", ""), obj.get("apiVersion", ""))
    if validator is None:
        return [f"{label}: no Kubernetes {KUBERNETES_VERSION} schema for {obj.get('apiVersion')} {obj.get('kind')}, and no project rules"]
    problems = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(object)"
        problems.append(f"{label}: {path}: {error.message}")
    return problems
