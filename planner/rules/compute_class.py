"""Rules a ComputeClass must satisfy for GKE's API server to accept it.

Written from Google's published CRD (GoogleCloudPlatform/compute-class-api,
cloud.google.com_computeclasses.yaml, 2026-08) and the "ComputeClass CRD reference" page, as summed up
in the team's facts (gke.md). Only the fields this project may write are allowed: the API server's
strict validation rejects unknown fields, so do we. Pure Python, no Pulumi: the component checks its
spec with these rules before creating anything, and the offline plan checks what it rendered.
"""

from __future__ import annotations

import re
from typing import Any


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer()


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


# field -> (checker, description) for leaves; nested dicts for objects.
_GPU = {
    "type": (_is_str, "a string such as nvidia-l4"),
    "count": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "driverVersion": (lambda v: v in ("default", "latest", "autoinstall-disabled"), "one of default, latest, autoinstall-disabled"),
}
_FLEX = {
    "enabled": (_is_bool, "a boolean"),
    "nodeRecycling": {
        "leadTimeSeconds": (lambda v: _is_int(v) and 1 <= v <= 604800, "an integer from 1 to 604800"),
    },
}
_PRIORITY = {
    "machineType": (_is_str, "a string"),
    "machineFamily": (lambda v: _is_str(v) and len(v) <= 10, "a string of at most 10 characters"),
    "minCores": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "minMemoryGb": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "spot": (_is_bool, "a boolean"),
    "flexStart": _FLEX,
    "maxRunDurationSeconds": (lambda v: _is_int(v) and 1 <= v <= 604800, "an integer from 1 to 604800 (flex-start nodes live at most 7 days)"),
    "gpu": _GPU,
    "reservations": {
        "affinity": (lambda v: v in ("Specific", "AnyBestEffort", "None", "AnyThenFail"), "one of Specific, AnyBestEffort, None, AnyThenFail"),
    },
    "capacityCheckWaitTimeSeconds": (lambda v: _is_int(v) and 1 <= v <= 86400, "an integer from 1 to 86400"),
    "maxPodsPerNode": (lambda v: _is_int(v) and 8 <= v <= 256, "an integer from 8 to 256"),
    "storage": {
        "localSSDCount": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        # types.go Storage: +kubebuilder:validation:Enum=pd-balanced;pd-standard;pd-ssd;hyperdisk-balanced
        "bootDiskType": (lambda v: v in ("pd-balanced", "pd-standard", "pd-ssd", "hyperdisk-balanced"),
                         "one of pd-balanced, pd-standard, pd-ssd, hyperdisk-balanced"),
        # types.go Storage.BootDiskSize: +kubebuilder:validation:Minimum=10 (GB)
        "bootDiskSize": (lambda v: _is_int(v) and v >= 10, "an integer >= 10 (GB)"),
    },
}
_SPEC = {
    "priorities": None,  # checked item by item below
    "nodePoolAutoCreation": {"enabled": (_is_bool, "a boolean")},
    "whenUnsatisfiable": (lambda v: v in ("ScaleUpAnyway", "DoNotScaleUp"), "one of ScaleUpAnyway, DoNotScaleUp"),
    "activeMigration": {"optimizeRulePriority": (_is_bool, "a boolean")},
    # types.go NodePoolConfig.ImageStreaming: {enabled: bool, +kubebuilder:validation:Required}. Only the
    # field this project writes; the rest of nodePoolConfig (serviceAccount, imageType, ...) is refused.
    "nodePoolConfig": {"imageStreaming": {"enabled": (_is_bool, "a boolean")}},
    "autoscalingPolicy": {
        "consolidationDelayMinutes": (lambda v: _is_int(v) and 1 <= v <= 1440, "an integer from 1 to 1440"),
    },
}

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _walk(obj: Any, schema: dict, path: str, errors: list[str]) -> None:
    if not isinstance(obj, dict):
        errors.append(f"{path}: must be an object")
        return
    for key, value in obj.items():
        where = f"{path}.{key}"
        if key not in schema:
            errors.append(f"{where}: unknown field (allowed: {', '.join(schema)})")
            continue
        rule = schema[key]
        if rule is None:
            continue
        if isinstance(rule, dict):
            _walk(value, rule, where, errors)
        elif not rule[0](value):
            errors.append(f"{where}: {value!r} must be {rule[1]}")


def validate(obj: dict) -> list[str]:
    """Every rule the object breaks, each as "field.path: what is wrong". Empty when it is valid."""
    errors: list[str] = []
    if obj.get("apiVersion") != "cloud.google.com/v1" or obj.get("kind") != "ComputeClass":
        errors.append("apiVersion/kind: must be cloud.google.com/v1 ComputeClass")
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        errors.append(f"metadata.name: {name!r} must be a fixed DNS label (pods select the class by name)")
    elif name.startswith(("gke", "autopilot")):
        errors.append(f"metadata.name: {name!r} may not start with gke or autopilot (reserved by GKE)")
    if "namespace" in metadata:
        errors.append("metadata.namespace: ComputeClass is cluster-scoped")

    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return errors + ["spec: required"]
    _walk(spec, _SPEC, "spec", errors)

    streaming = (spec.get("nodePoolConfig") or {}).get("imageStreaming") if isinstance(spec.get("nodePoolConfig"), dict) else None
    if isinstance(streaming, dict) and "enabled" not in streaming:
        errors.append("spec.nodePoolConfig.imageStreaming.enabled: required")

    priorities = spec.get("priorities")
    if not isinstance(priorities, list) or not priorities:
        errors.append("spec.priorities: required, a non-empty list")
        priorities = []
    for i, priority in enumerate(priorities):
        where = f"spec.priorities[{i}]"
        if not isinstance(priority, dict) or not priority:
            errors.append(f"{where}: must be a non-empty object")
            continue
        _walk(priority, _PRIORITY, where, errors)
        if "machineType" in priority and {"machineFamily", "minCores", "minMemoryGb"} & priority.keys():
            errors.append(f"{where}.machineType: cannot be combined with machineFamily, minCores or minMemoryGb")
        flex = priority.get("flexStart") or {}
        flex_on = isinstance(flex, dict) and flex.get("enabled") is True
        if priority.get("spot") is True and flex_on:
            errors.append(f"{where}: spot: true and flexStart.enabled: true are rejected in the same priority")
        if isinstance(flex, dict) and "nodeRecycling" in flex:
            recycling = flex["nodeRecycling"]
            if not isinstance(recycling, dict) or "leadTimeSeconds" not in recycling:
                errors.append(f"{where}.flexStart.nodeRecycling.leadTimeSeconds: required inside nodeRecycling")
        if "capacityCheckWaitTimeSeconds" in priority and not flex_on:
            errors.append(f"{where}.capacityCheckWaitTimeSeconds: only allowed with flex-start")
        if "maxRunDurationSeconds" in priority and priority.get("spot") is True:
            errors.append(f"{where}.maxRunDurationSeconds: not for Spot priorities (Spot has no maximum run time)")
    return errors
