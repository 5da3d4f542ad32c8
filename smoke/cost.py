"""What the measured throughput costs: the stack's capacity ladder and prices (the same ones `make
plan` shows), and the arithmetic from $/h to $ per million output tokens."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import catalog
from planner import stack_config
from smoke import EXIT_USAGE, SmokeError

PROJECT = "gke-llm-serving"
PRICE_KEYS = (("spot", "priceSpot"), ("flex-start", "priceFlexStart"), ("on-demand", "priceOnDemand"))


def cost_per_million_output_tokens(per_hour_per_replica: Optional[float], replicas: int,
                                   output_tokens_per_s: Optional[float]) -> Optional[float]:
    """$ per million output tokens when `replicas` machines at `per_hour_per_replica` $/h together
    produce `output_tokens_per_s`: dollars per hour over tokens per hour, times a million.

    None when a factor is unknown or nothing was produced (no price, no replica, no token).
    """
    if per_hour_per_replica is None or output_tokens_per_s is None or output_tokens_per_s <= 0 or replicas <= 0:
        return None
    # Multiplications first, one division last: the result is exact whenever it can be.
    return per_hour_per_replica * replicas * 1e6 / (output_tokens_per_s * 3600)


@dataclass(frozen=True)
class Tier:
    name: str
    per_hour: Optional[float]  # $/h for one replica's machine
    source: str  # "price table", "config", "assumption: ..."


@dataclass(frozen=True)
class Ladder:
    machine: str
    tiers: tuple[Tier, ...]
    replicas: int
    replicas_source: str  # how the replica count was chosen, shown under the table
    model: str  # the stack's model, the fallback name when the server does not list its models

    def costs(self, output_tokens_per_s: Optional[float]) -> dict[str, Optional[float]]:
        return {t.name: cost_per_million_output_tokens(t.per_hour, self.replicas, output_tokens_per_s)
                for t in self.tiers}


def _bad(key: str, value: str, problem: str, fix: str) -> SmokeError:
    return SmokeError(f"config {key}={value!r} in stack files: {problem}; {fix}", EXIT_USAGE)


def _integer(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _bad(key, value, "not an integer", "give a whole number") from None


def ladder_from_stack(stack: str, replicas: Optional[int] = None, root: Path = stack_config.ROOT) -> Ladder:
    """The stack's machine, capacity ladder, prices and replicas, read from Pulumi.yaml and
    Pulumi.<stack>.yaml as the CLI resolves them (no Pulumi runtime, no cloud)."""
    try:
        values = stack_config.resolve(stack, root=root).values
    except stack_config.StackConfigError as e:
        raise SmokeError(str(e), EXIT_USAGE) from None

    def get(key: str) -> str:
        return values.get(f"{PROJECT}:{key}", "")

    machine_name = get("machineType")
    machine = catalog.machines().get(machine_name)
    if machine is None:
        raise _bad("machineType", machine_name, "not in catalog/machines.csv", "use a machine `make plan` accepts")

    raw = get("capacity")
    try:
        tiers = json.loads(raw)
    except json.JSONDecodeError:
        tiers = [t.strip() for t in raw.split(",")]  # `pulumi config set capacity spot,flex-start`
    if not isinstance(tiers, list) or not all(t in ("spot", "flex-start", "on-demand") for t in tiers):
        raise _bad("capacity", raw, "not a list of spot, flex-start, on-demand", "fix it as `make plan` says")

    overrides: dict[str, float] = {}
    for tier, key in PRICE_KEYS:
        text = get(key)
        if text:
            try:
                price = float(text)
            except ValueError:
                price = -1.0
            if not (price >= 0 and math.isfinite(price)):
                raise _bad(key, text, "not a price", "give US dollars per hour for one machine, e.g. 0.80")
            overrides[tier] = price

    if replicas is not None:
        count, source = replicas, "--replicas"
    else:
        count, source = _integer("replicas", get("replicas") or "1"), f"stack {stack} replicas"
        autoscaling = get("autoscaling")
        if autoscaling:
            # An autoscaled deployment idles at its minimum: that is the capacity paid for when
            # the load is as light as this smoke test's.
            try:
                spec = json.loads(autoscaling)
                count = int(spec.get("minReplicas", 1))  # settings' default when absent
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise _bad("autoscaling", autoscaling, "not an object with an integer minReplicas",
                           'give {"minReplicas": N, "maxReplicas": M}') from None
            source = f"stack {stack} autoscaling minReplicas (pass --replicas to price another count)"

    prices = tuple(Tier(t, p.per_hour, p.source) for t in tiers for p in [catalog.tier_price(machine, t, overrides)])
    return Ladder(machine=machine.name, tiers=prices, replicas=count, replicas_source=source, model=get("model"))
