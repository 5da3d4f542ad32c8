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

from catalog import nodes

_HERE = Path(__file__).parent

# Both engines keep 10% of each GPU's memory free: TGI sizes its KV cache from the free memory less
# TGI_WIGGLE_ROOM 0.90 of the total (text-generation-inference v3.3.7 server/text_generation_server/
# models/globals.py:32, utils/import_utils.py get_cuda_free_memory), and vLLM gets
# --gpu-memory-utilization 0.90 (__main__.py).
GPU_RUNTIME_OVERHEAD = 0.10
# Beyond that tenth, each GPU holds the CUDA context, cuBLAS workspaces and NCCL buffers, which torch
# does not allocate but mem_get_info counts as used. Assumption: about 0.7 GiB (0.75 GB) per GPU, the
# engines review's estimate (review-engines.md B1); not measured here. vLLM counts it inside its
# --gpu-memory-utilization instead (non-torch memory in its profile), so for vLLM this errs safe.
CUDA_CONTEXT_GB_PER_GPU = 0.75

# A model "fits" only if, after weights and overhead, at least this many tokens of KV cache remain:
# one request of a useful length. Below that TGI starts but rejects or truncates every real prompt.
MIN_KV_TOKENS = 4096

# Default token limits leave room for this many full-length requests in the KV cache at once. Three,
# not TGI's own zero-config one (it sets MAX_TOTAL_TOKENS to the whole KV cache, capped by the context:
# flash_causal_lm.py:1566-1576 at v3.3.7): a full-length prompt is rare, and with chunked prefill and
# prefix caching shorter requests share the rest; three still lets a long request and others run.
TARGET_CONCURRENT_SEQUENCES = 3

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
    local_ssd_count: int = 0  # 375 GiB Local SSDs a ComputeClass may request for this machine

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
    hidden_size: int = 0  # 0: unknown (a model outside the catalog)
    intermediate_size: int = 0
    experts: int = 1  # mixture-of-experts: experts per layer, and how many each token is routed to
    experts_per_token: int = 1
    checkpoint_quant: str = "none"  # the method a pre-quantized checkpoint was made with
    checkpoint_gb: float = 0.0  # what the loader downloads; 0: unknown
    vocab_size: int = 0  # 0: unknown (no logits counted)
    revision: str = ""  # the Hub commit the row was checked at; "": none recorded

    @property
    def moe(self) -> bool:
        return self.experts > 1


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
            local_ssd_count=int(r["local_ssd_count"]),
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
            hidden_size=int(r["hidden_size"]),
            intermediate_size=int(r["intermediate_size"]),
            experts=int(r["experts"]),
            experts_per_token=int(r["experts_per_token"]),
            checkpoint_quant=r["checkpoint_quant"],
            checkpoint_gb=float(r["checkpoint_gb"]),
            vocab_size=int(r.get("vocab_size") or 0) or _vocab_size(r["model_id"]),
            revision=r["revision"],
        )
        for r in _rows("models.csv")
    }


# vocab_size from each family's config.json on the Hub (the pre-quantized builds keep their base's),
# until catalog/models.csv carries it as a column (read first when present).
_VOCAB_SIZES = (
    (r"mixtral", 32000),  # mistralai/Mixtral-8x7B-Instruct-v0.1
    (r"mistral-7b-instruct-v0\.3", 32768),
    (r"llama-3\.1", 128256),
    (r"gemma-2-", 256000),
    (r"qwen2\.5-", 152064),
)


def _vocab_size(model_id: str) -> int:
    return next((size for pattern, size in _VOCAB_SIZES if re.search(pattern, model_id.lower())), 0)


@functools.cache
def quantizations() -> dict[str, Quantization]:
    return {
        r["quantize"]: Quantization(r["quantize"], float(r["bytes_per_param"]), r["prequantized"] == "yes")
        for r in _rows("quantizations.csv")
    }


@functools.cache
def gpu_regions() -> dict[str, frozenset[str]]:
    """GKE accelerator name -> the regions that offer it (catalog/gpu-regions.csv, dated there)."""
    return {r["gke_accelerator"]: frozenset(r["regions"].split()) for r in _rows("gpu-regions.csv")}


def all_gpu_regions() -> frozenset[str]:
    return frozenset().union(*gpu_regions().values())


@functools.cache
def _engine_quantizations() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for r in _rows("engine-quantizations.csv"):
        found.setdefault(r["engine"], []).append(r["quantize"])
    return {engine: tuple(q) for engine, q in found.items()}


def engine_quantizations(engine: str) -> tuple[str, ...]:
    """The catalog quantizations an engine runs (catalog/engine-quantizations.csv)."""
    return _engine_quantizations().get(engine, ())


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
        checkpoint_gb=params_billion * 2,
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
    overhead_gb: float  # the engine's free tenth plus each GPU's CUDA context
    kv_cache_gb: float  # what is left for the KV cache and activations (negative when the weights do not fit)
    kv_tokens: int
    gpus: int = 1  # tensor-parallel shards: what is replicated on every GPU counts this many times

    @property
    def fits(self) -> bool:
        return self.kv_tokens >= MIN_KV_TOKENS


def weights_gb(model: Model, quantize: Quantization) -> float:
    if model.checkpoint_quant != "none" and model.checkpoint_gb:
        return model.checkpoint_gb  # already quantized: what is on disk is what loads
    return model.params_billion * quantize.bytes_per_param


def fit(model: Model, machine: Machine, quantize: Quantization) -> Fit:
    """GPU memory of one replica (all its GPUs together, GB): weights, the runtime's share, and the rest.

    The catalog's 24 GB per L4 is the nominal size; nvidia-smi reports about 23,034 MiB (24.15 GB),
    so the figure errs by 0.15 GB on the safe side (review-engines.md, Minor)."""
    total = float(machine.total_gpu_memory_gb)
    overhead = total * GPU_RUNTIME_OVERHEAD + machine.gpu_count * CUDA_CONTEXT_GB_PER_GPU
    weights = weights_gb(model, quantize)
    kv = total - overhead - weights
    tokens = int(kv * 1e9 // model.kv_bytes_per_token) if kv > 0 and model.kv_bytes_per_token else 0
    return Fit(weights, total, overhead, kv, tokens, machine.gpu_count)


# Hidden-size buffers alive on every GPU at a prefill's peak: the residual, the normed input, the
# attention's output after the all-reduce, the MoE/MLP output being summed into, and a few
# temporaries. An estimate, not a measurement.
PREFILL_HIDDEN_BUFFERS = 8
# Intermediate-size tensors alive for one expert (or a dense MLP) at its peak: act(gate(x)), up(x)
# and their product (TGI DenseMoELayer.forward: h = act(gate_proj[i](x)) * up_proj[i](x)).
MLP_INTERMEDIATE_BUFFERS = 3


def prefill_bytes_per_token(model: Model, dense_moe: bool, gpus: int = 1, warmup_logits: bool = False) -> int:
    """Activation memory one prompt token needs at the peak of a prefill (all GPUs together), bf16.

    The MLP's intermediates are split across the tensor-parallel GPUs; the hidden-size buffers are
    replicated on each. A fused (sparse) MoE computes every routed expert of a token at once. TGI's
    DenseMoELayer, which it takes for weights its fused kernels cannot use (bitsandbytes, eetq, ...),
    computes all experts for every token but one expert after another, freeing each one's
    intermediates before the next (text-generation-inference v3.3.7 server/text_generation_server/
    layers/moe/__init__.py, DenseMoELayer.forward: `for i in range(self.n_experts)`), so its peak is
    one expert's, lower than the fused path's.

    `warmup_logits`: TGI's warm-up asks for the log-probabilities of every prompt token
    (backends/v3/src/client/grpc_client.rs warmup: prefill_logprobs: true), so the LM head computes
    vocabulary-wide logits for the whole prefill, gathered in full on every GPU beside each GPU's own
    slice (layers/tensor_parallel.py TensorParallelHead.forward). They come after the layers'
    activations are freed, so the peak is the larger of the two.
    """
    experts = 1 if (not model.moe or dense_moe) else model.experts_per_token
    layers = 2 * (experts * MLP_INTERMEDIATE_BUFFERS * model.intermediate_size
                  + gpus * PREFILL_HIDDEN_BUFFERS * model.hidden_size)
    logits = 2 * model.vocab_size * (gpus + 1) if warmup_logits else 0
    return max(layers, logits)


@dataclass(frozen=True)
class TokenPlan:
    max_input: int  # MAX_INPUT_TOKENS: the longest prompt
    max_total: int  # MAX_TOTAL_TOKENS: prompt + output of one request
    max_prefill: int  # MAX_BATCH_PREFILL_TOKENS / --max-num-batched-tokens: prompt tokens per prefill step (0: engine's own)
    prefill_gb: float  # activation memory one prefill step (and TGI's warm-up, which runs one) takes
    kv_tokens: int  # KV cache left once the prefill's activations are set aside


def _round_down(tokens: float) -> int:
    return max(1024, int(tokens) // 1024 * 1024)


def token_plan(model: Model, fit_: Fit, dense_moe: bool = False, chunk: int = 0, warmup_logits: bool = False) -> TokenPlan:
    """Default token limits for a model on a machine.

    The engine prefills P prompt tokens per step; P x a bytes of activations must fit beside the
    weights (TGI's warm-up runs one such step and fails with out-of-memory otherwise:
    flash_causal_lm.py warmup, "Not enough memory to handle N prefill tokens"). The KV cache gets
    the rest, of which a request of MAX_TOTAL_TOKENS must fit TARGET_CONCURRENT_SEQUENCES times.

    An engine that prefills long prompts in chunks (`chunk` tokens per step: vLLM, and TGI 3.x on
    flashinfer/flashdecoding attention) needs room for one chunk only, and its prompts are not capped
    by it; the chunk is shrunk (in 1024-token steps) only when its activations would leave less than
    MIN_KV_TOKENS per target request. An engine that prefills a prompt in one batch (chunk 0) needs
    MAX_INPUT_TOKENS <= MAX_BATCH_PREFILL_TOKENS, so P = input:
        input = (free / (n x kv) - reserve) / (1 + a / (n x kv))
    with reserve the output room kept below the total, then rounded down to 1024-token steps.
    """
    if not model.kv_bytes_per_token or fit_.kv_cache_gb <= 0:
        return TokenPlan(0, 0, 0, 0.0, 0)
    a = prefill_bytes_per_token(model, dense_moe, fit_.gpus, warmup_logits) if model.hidden_size else 0
    per_request = TARGET_CONCURRENT_SEQUENCES * model.kv_bytes_per_token
    free = fit_.kv_cache_gb * 1e9
    total = min(model.max_context, free // per_request)
    reserve = min(1024, total // 4)
    if chunk:
        room = free - MIN_KV_TOKENS * per_request
        prefill = min(chunk, _round_down(room / a)) if a else chunk
    else:
        prefill = _round_down(min(total - reserve, (free / per_request - reserve) / (1 + a / per_request)))
    total = _round_down(min(model.max_context, (free - prefill * a) // per_request))
    max_input = input_limit(total) if chunk else min(input_limit(total), prefill)
    kv_tokens = int((free - prefill * a) // model.kv_bytes_per_token)
    return TokenPlan(max_input, total, prefill if a else 0, prefill * a / 1e9, kv_tokens)


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


def quantizations_that_fit(model: Model, machine: Machine, engine: str = "tgi") -> list[Quantization]:
    """Load-time quantizations of the bf16 checkpoint that fit and the engine runs, largest first."""
    found = [q for q in quantizations().values() if fit(model, machine, q).fits and not q.prequantized
             and q.name in engine_quantizations(engine)]
    return sorted(found, key=lambda q: -q.bytes_per_param)


def prequantized_variants(model: Model, machine: Machine, engine: str = "tgi") -> list[Model]:
    """Catalogued pre-quantized checkpoints of the same architecture that fit and the engine runs."""
    return [m for m in models().values()
            if m.checkpoint_quant != "none" and m.checkpoint_quant in engine_quantizations(engine)
            and (m.params_billion, m.layers, m.hidden_size) == (model.params_billion, model.layers, model.hidden_size)
            and fit(m, machine, quantizations()[m.checkpoint_quant]).fits]


# --- pods and nodes -----------------------------------------------------------------------------


def allocatable(machine: Machine) -> tuple[float, float]:
    """(cores, GiB) GKE leaves to pods on a node of this machine (catalog/nodes.py: GKE's reservation
    rules applied to the kubelet's capacity)."""
    return nodes.allocatable_cpu(machine.vcpus), nodes.allocatable_memory_gib(machine.memory_gb)


# What GKE's own DaemonSets request on a GPU node (catalog/gke-daemonsets.csv, sourced and dated),
# plus a stated margin: 800 MiB of that table is assumed (anetd, dcgm-exporter, maintenance-handler
# publish no requests we could find) and GKE adds DaemonSets over time. Without it the server would
# fit its node by 0.14 cores and 0.9 GiB, and a slightly larger real request would leave it Pending
# on the only machine the ComputeClass allows. The plan shows the headroom that remains.
NODE_MARGIN_CPU = 1.0
NODE_MARGIN_MEMORY_GIB = 2.0
_daemon_cpu, _daemon_memory, _ = nodes.daemon_requests(gpu_node=True)
DAEMON_CPU, DAEMON_MEMORY_GIB = _daemon_cpu + NODE_MARGIN_CPU, _daemon_memory + NODE_MARGIN_MEMORY_GIB


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
    per_hour: Optional[float]
    source: str  # "price table", "config", or "assumption: ..."

    @property
    def assumed(self) -> bool:
        return self.source.startswith("assumption")


def tier_price(machine: Machine, tier: str, overrides: dict[str, float]) -> TierPrice:
    if tier in overrides:
        return TierPrice(overrides[tier], "config")
    row = prices().get(machine.name)
    if row is None:
        return TierPrice(None, "no price in table")
    if tier == "spot":
        return TierPrice(row.spot, "price table")
    if tier == "on-demand":
        return TierPrice(row.on_demand, "price table")
    discounted = round(row.on_demand * (1 - FLEX_START_ASSUMED_DISCOUNT), 5)
    return TierPrice(discounted, f"assumption: on-demand less {FLEX_START_ASSUMED_DISCOUNT:.0%}")


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
