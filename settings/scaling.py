"""Queue-based autoscaling: off, a fixed count, or a min..max range on a queue target."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import catalog
from settings.reader import ConfigError, Reader


# Google's guidance for queue-size targets: "start with a value between 3-5 and gradually increase it
# until requests reach the preferred latency" (GKE best practices, autoscaling LLM inference on GPUs).
DEFAULT_TARGET_QUEUE_SIZE = 4
AUTOSCALING_KEYS = ("minReplicas", "maxReplicas", "targetQueueSize")


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target_queue_size: float


def autoscaling(r: Reader, machine: catalog.Machine, quota: int) -> tuple[Optional[Autoscaling], Optional[int]]:
    """(autoscaling, fixed count): off when absent or min == max (then the fixed count is that)."""
    fix = 'give {"minReplicas": 1, "maxReplicas": 3, "targetQueueSize": 4}'
    value = r.object("autoscaling", AUTOSCALING_KEYS, fix)
    if value is None:
        return None, None

    def whole(key: str, default: Optional[int]) -> int:
        v = value.get(key, default)
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 1:
            raise ConfigError("autoscaling", value, f"{key} must be a whole number of replicas, 1 or more", fix)
        return int(v)

    low = whole("minReplicas", 1)
    high = whole("maxReplicas", None)
    if low > high:
        raise ConfigError("autoscaling", value, f"minReplicas {low} is above maxReplicas {high}", "make minReplicas <= maxReplicas")
    target = value.get("targetQueueSize", DEFAULT_TARGET_QUEUE_SIZE)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not target > 0 or not math.isfinite(target):
        raise ConfigError("autoscaling", value, "targetQueueSize must be a positive number of waiting requests per replica",
                          f"use e.g. {DEFAULT_TARGET_QUEUE_SIZE} (Google suggests starting at 3-5)")
    gpus = (high + 1) * machine.gpu_count  # NAP allows one spare GPU node (catalog.nap_limits)
    if gpus > quota:
        most = max(1, quota // machine.gpu_count - 1)
        raise ConfigError("autoscaling", value,
                          f"maxReplicas {high} needs up to {gpus} {machine.gpu} GPUs ({machine.gpu_count} per replica plus a spare node), above gpuQuota {quota}",
                          f"use maxReplicas {most} or less, or raise the project's preemptible GPU quota and gpuQuota")
    if low == high:
        return None, low
    return Autoscaling(low, high, float(target)), None
