"""Facts and arithmetic about machines, models, quantizations and prices. No Pulumi here.

The figures live in the CSV files beside this module, each with its source line. Everything a user
does not state is derived here: tensor-parallel shards, pod requests, token limits, NAP limits and
hourly cost, so the same numbers reach the program, the offline plan and the tests.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

_HERE = Path(__file__).parent

# TGI reserves room beyond weights and KV cache for the CUDA context and activations. The team's
# facts file (from TGI's memory notes) allows about 10% of GPU memory.
GPU_RUNTIME_OVERHEAD = 0.10

# A model "fits" only if, after weights and overhead, at least this many tokens of KV cache remain:
# one request of a useful length. Below that TGI starts but rejects or truncates every real prompt.
MIN_KV_TOKENS = 4096

# Default token limits leave room for this many full-length requests in the KV cache at once.
TARGET_CONCURRENT_SEQUENCES = 4

# Google advertises flex-start (DWS) discounts of "up to 53%" on vCPU and GPU; no per-machine G2
# price was found (prices-us-central1.csv header). Used only when no flex-start price is configured.
FLEX_START_ASSUMED_DISCOUNT = 0.53

GIB = 1024**3


def _rows(name: str) -> list[dict[str, str]]:
    with open(_HERE / name, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


@dataclass(frozen=True)
class Machine:
    name: str  # the catalog key users put in `machineType`
    vcpus: int
    memory_gb: int
    gpu: str
    accelerator: str  # GKE's accelerator name, e.g. nvidia-l4
    gpu_count: int
    gpu_memory_gb: int  # per GPU
    on_demand: bool  # False for machines Google sells only as Spot or flex-start

    @property
    def gce_machine_type(self) -> str:
        """The Compute Engine type: N1 rows are "n1-standard-4+t4", a host plus an attached GPU."""
        return self.name.split("+", 1)[0]

    @property
    def total_gpu_memory_gb(self) -> int:
        return self.gpu_count * self.gpu_memory_gb


@dataclass(frozen=True)
class Model:
    model_id: str
    params_billion: float
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    max_context: int
    kv_bytes_per_token: int  # bf16 K and V for all layers
    gated: bool


@dataclass(frozen=True)
class Quantization:
    name: str
    bytes_per_param: float
    prequantized: bool


@dataclass(frozen=True)
class Price:
    on_demand: Optional[float]
    spot: Optional[float]


@functools.cache
def machines() -> dict[str, Machine]:
    return {
        r["machine_type"]: Machine(
            name=r["machine_type"],
            vcpus=int(r["vcpus"]),
            memory_gb=int(r["memory_gb"]),
            gpu=r["gpu"],
            accelerator=r["gke_accelerator"],
            gpu_count=int(r["gpu_count"]),
            gpu_memory_gb=int(r["gpu_memory_gb_each"]),
            on_demand=r["on_demand"] == "yes",
        )
        for r in _rows("machines.csv")
    }


@functools.cache
def models() -> dict[str, Model]:
    return {
        r["model_id"]: Model(
            model_id=r["model_id"],
            params_billion=float(r["params_billion"]),
            layers=int(r["layers"]),
            attention_heads=int(r["attention_heads"]),
            kv_heads=int(r["kv_heads"]),
            head_dim=int(r["head_dim"]),
            max_context=int(r["max_context"]),
            kv_bytes_per_token=int(r["kv_bytes_per_token_bf16"]),
            gated=r["gated"] == "yes",
        )
        for r in _rows("models.csv")
    }


@functools.cache
def quantizations() -> dict[str, Quantization]:
    return {
        r["quantize"]: Quantization(r["quantize"], float(r["bytes_per_param"]), r["prequantized"] == "yes")
        for r in _rows("quantizations.csv")
    }


@functools.cache
def prices() -> dict[str, Price]:
    return {r["machine_type"]: Price(float(r["on_demand"]), float(r["spot"])) for r in _rows("prices-us-central1.csv")}


PRICE_SOURCE = "catalog/prices-us-central1.csv (SkyPilot GCP catalog, us-central1, read 2026-11)"

# Families that exist in Compute Engine but carry no GPU, to tell "no GPU" from "unknown".
_CPU_ONLY = re.compile(r"^(e2|n1|n2|n2d|n4|c2|c2d|c3|c3d|c4|c4a|c4d|t2a|t2d|m1|m2|m3|h3|z3)-")


def is_cpu_only_machine(name: str) -> bool:
    return bool(_CPU_ONLY.match(name)) and "+" not in name


def unknown_model(model_id: str, params_billion: float) -> Model:
    """A model missing from the catalog, sized from the parameter count the user gave.

    Its KV cache per token is estimated from the largest ratio in the catalog (bytes per token per
    billion parameters), so the fit check errs on the side of "does not fit".
    """
    ratio = max(m.kv_bytes_per_token / m.params_billion for m in models().values())
    return Model(
        model_id=model_id,
        params_billion=params_billion,
        layers=0,
        attention_heads=0,  # unknown: the shard check is skipped
        kv_heads=0,
        head_dim=0,
        max_context=8192,
        kv_bytes_per_token=int(ratio * params_billion),
        gated=False,
    )


# --- sizing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    weights_gb: float
    gpu_memory_gb: float
    overhead_gb: float
    kv_cache_gb: float  # what is left for the KV cache (negative when the weights do not fit)
    kv_tokens: int

    @property
    def fits(self) -> bool:
        return self.kv_tokens >= MIN_KV_TOKENS


def weights_gb(model: Model, quantize: Quantization) -> float:
    return model.params_billion * quantize.bytes_per_param


def fit(model: Model, machine: Machine, quantize: Quantization) -> Fit:
    total = float(machine.total_gpu_memory_gb)
    overhead = total * GPU_RUNTIME_OVERHEAD
    weights = weights_gb(model, quantize)
    kv = total - overhead - weights
    tokens = int(kv * 1e9 // model.kv_bytes_per_token) if kv > 0 and model.kv_bytes_per_token else 0
    return Fit(weights, total, overhead, kv, tokens)


def token_limits(model: Model, fit_: Fit) -> tuple[int, int]:
    """Default (MAX_INPUT_TOKENS, MAX_TOTAL_TOKENS): a request of MAX_TOTAL_TOKENS must fit in the KV
    cache several times over, capped at the model's context. TGI requires input < total."""
    per_sequence = fit_.kv_tokens // TARGET_CONCURRENT_SEQUENCES
    total = min(model.max_context, per_sequence)
    return input_limit(max(1024, total // 1024 * 1024)), max(1024, total // 1024 * 1024)


def input_limit(total: int) -> int:
    """MAX_INPUT_TOKENS for a MAX_TOTAL_TOKENS: keep up to 1024 tokens (a quarter at most) for output."""
    return total - min(1024, total // 4)


def shards_divide_heads(model: Model, shards: int) -> bool:
    # TGI splits attention heads evenly across tensor-parallel shards (launcher docs: NUM_SHARD).
    return model.attention_heads == 0 or model.attention_heads % shards == 0


def machines_that_fit(model: Model, quantize: Quantization) -> list[Machine]:
    """Machines on which the model fits and shards evenly, cheapest on-demand first."""
    found = [
        m
        for m in machines().values()
        if fit(model, m, quantize).fits and shards_divide_heads(model, m.gpu_count)
    ]
    return sorted(found, key=lambda m: (prices().get(m.name, Price(None, None)).on_demand or math.inf, m.name))


def quantizations_that_fit(model: Model, machine: Machine) -> list[Quantization]:
    """Quantizations that fit, loaded from the bf16 checkpoint (no pre-quantized repo needed) first."""
    found = [q for q in quantizations().values() if fit(model, machine, q).fits]
    return sorted(found, key=lambda q: (q.prequantized, -q.bytes_per_param))


# --- pods and nodes -----------------------------------------------------------------------------


def allocatable(machine: Machine) -> tuple[float, float]:
    """(cores, GiB) a GKE node of this machine leaves to pods.

    GKE's reservation rules ("Standard cluster architecture: node allocatable resources"):
    memory 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above
    128 GiB, plus 100 MiB eviction threshold; CPU 6% of the first core, 1% of the next, 0.5% of the
    next 2, 0.25% of the rest.
    """
    mem = float(machine.memory_gb)
    reserved = 0.0
    for size, share in ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02)):
        part = min(mem, size)
        reserved += part * share
        mem -= part
        if mem <= 0:
            break
    memory = machine.memory_gb - reserved - 0.1
    cpu_reserved = 0.06 + 0.01 * (machine.vcpus > 1) + 0.005 * min(2, max(0, machine.vcpus - 2))
    cpu_reserved += 0.0025 * max(0, machine.vcpus - 4)
    return machine.vcpus - cpu_reserved, memory


# GKE's own daemons on a GPU node (logging, metrics, device plugin, driver installer, kube-proxy)
# request about one core and a few GiB; leave that much beside the model server.
DAEMON_CPU = 1.0
DAEMON_MEMORY_GIB = 3.0


@dataclass(frozen=True)
class PodResources:
    cpu: int  # whole cores
    memory_gib: int
    gpus: int


def pod_resources(machine: Machine) -> PodResources:
    """Requests = limits for one model-server pod that takes the whole node (all its GPUs)."""
    cores, gib = allocatable(machine)
    return PodResources(
        cpu=max(1, math.floor(cores - DAEMON_CPU)),
        memory_gib=max(1, math.floor(gib - DAEMON_MEMORY_GIB)),
        gpus=machine.gpu_count,
    )


def weight_cache_gib(model: Model) -> int:
    """Disk for the downloaded checkpoint: bf16 weights (2 bytes a parameter; load-time quantizers
    download the full checkpoint) plus 10%, never below the tutorial's 100Gi."""
    return max(100, math.ceil(model.params_billion * 2 * 1e9 * 1.1 / GIB / 10) * 10)


# --- cost ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierPrice:
    tier: str
    per_hour: Optional[float]
    source: str  # "price table", "config", or "assumption: ..."

    @property
    def assumed(self) -> bool:
        return self.source.startswith("assumption")


def tier_price(machine: Machine, tier: str, overrides: dict[str, float]) -> TierPrice:
    if tier in overrides:
        return TierPrice(tier, overrides[tier], "config")
    row = prices().get(machine.name)
    if row is None:
        return TierPrice(tier, None, "no price in table")
    if tier == "spot":
        return TierPrice(tier, row.spot, "price table")
    if tier == "on-demand":
        return TierPrice(tier, row.on_demand, "price table")
    discounted = round(row.on_demand * (1 - FLEX_START_ASSUMED_DISCOUNT), 5)
    return TierPrice(tier, discounted, f"assumption: on-demand less {FLEX_START_ASSUMED_DISCOUNT:.0%}")


# --- cluster-wide limits ------------------------------------------------------------------------

# GB of memory per vCPU of general-purpose shapes (Compute Engine "General-purpose machine family").
_GENERAL_PURPOSE = re.compile(r"^(e2|n2|n2d|n4|c3|c4)-(standard|highmem|highcpu)-(\d+)$")
_GB_PER_VCPU = {"standard": 4, "highmem": 8, "highcpu": 1}

SYSTEM_POOL_MAX_NODES = 3


def general_purpose(name: str) -> Optional[tuple[int, int]]:
    """(vCPUs, GB) of a general-purpose machine type such as e2-standard-4, or None."""
    match = _GENERAL_PURPOSE.match(name)
    if not match:
        return None
    vcpus = int(match.group(3))
    return vcpus, vcpus * _GB_PER_VCPU[match.group(2)]


@dataclass(frozen=True)
class NapLimits:
    cpu: int
    memory_gb: int
    gpu_type: str
    gpus: int


def nap_limits(machine: Machine, replicas: int, system_machine: str) -> NapLimits:
    """Node auto-provisioning caps for the whole cluster (they count every node, the system pool too).

    One GPU machine per replica, plus one: a flex-start node's replacement (nodeRecycling) and an
    active migration both bring the new node up before the old one leaves.
    """
    gpu_machines = replicas + 1
    sys_cpu, sys_mem = general_purpose(system_machine) or (8, 32)
    return NapLimits(
        cpu=gpu_machines * machine.vcpus + SYSTEM_POOL_MAX_NODES * sys_cpu,
        memory_gb=gpu_machines * machine.memory_gb + SYSTEM_POOL_MAX_NODES * sys_mem,
        gpu_type=machine.accelerator,
        gpus=gpu_machines * machine.gpu_count,
    )
