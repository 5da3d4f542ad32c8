"""How the weights reach the GPUs, and how long a cold start takes: pure arithmetic, no Pulumi.

Two sources. `hub`: each new pod downloads the checkpoint from the Hugging Face Hub onto a per-pod
pd-ssd disk, then reads it back. `bucket`: a loader Job copies the checkpoint once into a regional
Cloud Storage bucket; each pod reads it through the Cloud Storage FUSE CSI driver with parallel
downloads into a file cache (RAM when it fits beside the server, else Local SSD, else none).

Every figure below is either sourced or marked as an assumption; the plan prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog import GIB, nodes, Machine, Model, Quantization, allocatable, DAEMON_CPU, DAEMON_MEMORY_GIB

# --- throughputs and durations ---------------------------------------------------------------------
# Cloud Storage FUSE with parallel downloads, same region, into a file cache: 0.5-1.0 GB/s per node;
# Google's tuned A2 run reached 0.88 GB/s (team facts model-loading.md §1.8, §7.1). The low end, since
# G2 gets no automatic gcsfuse tuning (gcsfuse cfg/params.yaml machine-type-groups has no g2-*).
BUCKET_GB_PER_S = 0.5
# Hugging Face Hub to a GKE node: nobody here controls it. Assumed: 100 MB/s sustained.
HUB_GB_PER_S = 0.1
# premium-rwo (pd-ssd) reads and writes: a baseline of about 240 MiB/s plus 0.48 MiB/s per GiB (Compute
# Engine "Persistent Disk performance"), so about 290 MiB/s for the 100 GiB cache disk.
PD_SSD_GB_PER_S = 0.3
# pd-balanced (the GPU nodes' boot disk, where a file cache too big for RAM lives): a baseline of about
# 140 MiB/s plus 0.28 MiB/s per GiB (Compute Engine "Persistent Disk performance", as the pd-ssd figure
# above; not re-read here), so about 0.22 GB/s for a 250 GB disk: it, not the bucket, bounds the read.
PD_BALANCED_BASE_MIB_S = 140
PD_BALANCED_MIB_S_PER_GIB = 0.28


def pd_balanced_gb_per_s(disk_gb: int) -> float:
    return (PD_BALANCED_BASE_MIB_S + PD_BALANCED_MIB_S_PER_GIB * disk_gb) * 1024**2 / 1e9
# A GPU node appears in 2-5 minutes when Spot or flex-start has capacity. Assumed: no Google figure
# was found (a third-party blog says 3-8 min, review-engines.md B4; model-loading.md §7.1); waiting for
# capacity is not included and is what the 20-minute provisioning budget covers.
NODE_SECONDS = 4 * 60
# Pulling the serving image without image streaming (GKE streams only Artifact Registry images:
# cloud.google.com/kubernetes-engine/docs/how-to/image-streaming; both images come from Docker Hub or
# ghcr.io). Per engine, as (seconds, basis):
# What the image takes on the node's disk once unpacked: vLLM 28.6 GB (vllm-project/vllm#22377); TGI
# assumed 20 GB (about 8 GB compressed by third-party accounts, unverified; unpacked at 2.5x).
IMAGE_UNPACKED_GB = {"vllm": 28.6, "tgi": 20.0}
IMAGE_PULL = {
    # vllm/vllm-openai is about 12 GB to download (vllm-project/vllm#27154, 2025-10) and 28.6 GB unpacked
    # (vllm-project/vllm#22377, 2025-12): the review's 3-5 minutes; 4 assumed, no pull was timed here.
    "vllm": (4 * 60, "assumed 3-5 min: about 12 GB compressed, 28.6 GB unpacked (vllm#27154, vllm#22377), no streaming"),
    # TGI 3.3.7: about 8 GB by third-party accounts (unverified) at an assumed 100 MB/s from ghcr.io.
    "tgi": (2 * 60, "assumed: about 8 GB (third-party figure, unverified) at about 100 MB/s, no streaming"),
}
# With image streaming (GKE streams images from standard and remote Artifact Registry repositories,
# components/platform/registry.py) the container starts before its image is on the node: Google's 5.4 GB
# Triton image went from 191 s to 30 s end to end (ai-on-gke best-practices/startup-latency.md, team
# facts model-loading.md §3); a third party saw 3 min 50 s become 20 s (review-engines.md B4). What
# the engine then reads lazily at start (Python, torch, CUDA libraries: several GB of a 20-29 GB
# image) is assumed to add 30 s. Not measured for these images; for TGI's image, mirrored from a
# custom upstream (ghcr.io), streaming itself is unverified (a whole pull from the region otherwise).
STREAMED_IMAGE_SECONDS = 60
STREAMED_IMAGE_BASIS = ("assumed: streamed from the region's Artifact Registry, the container starts in 20-30 s "
                        "(Google's 5.4 GB Triton image: 191 s to 30 s) plus about 30 s of libraries read lazily")
# vLLM's Run:ai Model Streamer reads the safetensors from gs:// with `concurrency` threads into a CPU
# buffer and on into GPU memory, no FUSE and no file cache (docs.vllm.ai "Loading models with Run:ai
# Model Streamer"; team facts model-loading.md §6). Without its `distributed` option (not enabled
# here: not checked for 0.32 with Mixtral) every tensor-parallel worker reads the entire checkpoint
# (the same vLLM page: the sharded loader exists so that "each worker only needs to read its own shard
# rather than the entire checkpoint"), so the node reads it once per GPU.
# Throughput, assumed 1 GB/s per node: the top of Cloud Storage FUSE's 0.5-1.0 GB/s, a quarter of G2's
# 32 Gbps NIC (team facts §0); no G2 measurement exists. A public vLLM-on-TPU script measured about
# 218 MB/s per host from Cloud Storage at the default 16 threads, "thread-count-bound" (13.6 MB/s a
# thread) and serialised behind its fp8 post-processing (code index, a Qwen 2.4T serve script), which
# is why the concurrency here is doubled; NVIDIA's published runs reached 1-2 GB/s from EBS volumes
# (review-engines.md B4).
STREAMER_GB_PER_S = 1.0
STREAMER_CONCURRENCY = 32  # reader threads (Cloud Storage clients) per worker: 2 x 32 on 2x L4
# The CPU buffer each worker streams through (`memory_limit`, bytes). Unset, the streamer's buffer is
# the size of every file it streams (runai-model-streamer requests_iterator.py: no limit or -1 is
# MemoryCapMode.unlimited, the sum of all chunks), the whole checkpoint per worker; a limit must hold
# the largest tensor ("Memory limit supplied ... cannot be smaller than" the largest chunk): Mixtral's
# is the 32000 x 4096 bf16 embedding, 0.26 GB. Bounded so the pod's memory can be sized for it.
STREAMER_BUFFER_GIB = 4
# Quantizing bf16 weights at load (bitsandbytes, fp8): TGI quantizes each tensor on the GPU as it is
# read (v3.3.7 server/text_generation_server/layers/bnb.py: Linear4bit -> Params4bit(...).cuda()), one
# kernel per tensor overlapped with the reading, so the load is bound by reading the bf16 checkpoint.
# What it adds on top of the read is assumed at 1 s per billion parameters: no public timing found,
# and the earlier 6 s (4.7 min for Mixtral) overstated it (review-engines.md B4).
QUANTIZE_SECONDS_PER_BILLION = 1
# Shard start, kernel preparation, warm-up and CUDA graphs: assumed 1-2 minutes (model-loading.md §7.1).
# TGI's warm-up is one 4096-token prefill step now (components/serving/engines/tgi.py) plus CUDA graphs; vLLM's
# torch.compile and graph capture may take longer (review-engines.md B4, unverified).
WARMUP_SECONDS = 120
# The probe budget is the estimate times this, never under STARTUP_FLOOR_SECONDS: an estimate is not
# a measurement, and a probe that gives up too early restarts a load that was about to finish.
BUDGET_MARGIN = 2.0
STARTUP_FLOOR_SECONDS = 10 * 60

# --- memory beside the server on the node ----------------------------------------------------------
# The Cloud Storage FUSE sidecar: requests set so the scheduler counts it; limits "0" (unlimited), as
# Google's serving samples do, because tight limits throttle downloads or OOM-kill the mount.
SIDECAR_CPU = 2
SIDECAR_MEMORY_GIB = 2
# Host memory the engine needs besides any file cache: assumption, 4 GiB plus 10% of the checkpoint
# (Python, tokenizer, CUDA and NCCL host buffers, the shards' reading of the files).
SERVER_BASE_MEMORY_GIB = 4


@dataclass(frozen=True)
class FileCache:
    medium: str  # "memory", "disk" (the node's boot disk) or "none"
    size_gib: int  # what the cache volume may hold (0 for none)
    reason: str


@dataclass(frozen=True)
class PodMemory:
    server_cpu: int
    server_memory_gib: int  # the server container's request (= limit)
    cache: FileCache


# The server's writable HF_HOME in bucket mode (caches the engine writes, no weights), an emptyDir the
# container requests.
WORK_DIR_GIB = 10


def server_ephemeral_gib(cache: "FileCache", source: str) -> dict[str, int]:
    """The ephemeral storage the server pod requests: the container's work directory (bucket mode) and
    the FUSE sidecar's, which holds a disk file cache beside the webhook's default buffer."""
    container = WORK_DIR_GIB if source == "bucket" else 0
    sidecar = cache.size_gib + nodes.SIDECAR_EPHEMERAL_GIB if cache.medium == "disk" else 0
    return {"container": container, "sidecar": sidecar}


def gpu_boot_disk_gb(cache: "FileCache", source: str, engine: str, reader: str = "fuse") -> int:
    """The GPU nodes' boot disk: room for the server pod's ephemeral requests (the sidecar's default
    when it asks for none; no sidecar when vLLM streams the weights) and, beside them, the unpacked
    serving image (image streaming still caches the whole image on the node's disk)."""
    asked = server_ephemeral_gib(cache, source)
    sidecar = asked["sidecar"] or (nodes.SIDECAR_EPHEMERAL_GIB if source == "bucket" and reader == "fuse" else 0)
    image = IMAGE_UNPACKED_GB.get(engine, max(IMAGE_UNPACKED_GB.values())) * 1e9 / GIB
    return nodes.gpu_boot_disk_gb(asked["container"] + sidecar + image)


def checkpoint_gib(model: Model) -> float:
    return model.checkpoint_gb * 1e9 / GIB


def server_memory_need_gib(model: Model) -> int:
    return math.ceil(SERVER_BASE_MEMORY_GIB + 0.1 * checkpoint_gib(model))


def streamer_memory_gib(machine: Machine) -> int:
    """The Run:ai streamer's CPU buffers: one per tensor-parallel worker (every GPU of the node)."""
    return STREAMER_BUFFER_GIB * machine.gpu_count


def pod_memory(model: Model, machine: Machine, source: str, reader: str = "fuse") -> PodMemory:
    """Split the node between the server, the FUSE sidecar and the file cache (`reader` "fuse"), or
    give it all to the server when vLLM streams the weights from the bucket (`reader` "streamer": no
    sidecar, no cache, the streamer's CPU buffers counted). Raises ValueError (the caller turns it into
    a config error) when the server does not fit at all."""
    cores, gib = allocatable(machine)
    cpu = max(1, math.floor(cores - DAEMON_CPU))
    memory = max(1, math.floor(gib - DAEMON_MEMORY_GIB))
    need = server_memory_need_gib(model)
    if source != "bucket":
        cache = FileCache("none", 0, "weights on the pod's own disk (weightSource hub)")
    elif reader == "streamer":
        need += streamer_memory_gib(machine)
        cache = FileCache("none", 0, f"vLLM streams the weights from the bucket into GPU memory through "
                                     f"{machine.gpu_count} x {STREAMER_BUFFER_GIB} GiB of CPU buffer, no file cache")
    else:
        cpu -= SIDECAR_CPU
        memory -= SIDECAR_MEMORY_GIB
        size = math.ceil(checkpoint_gib(model) * 1.05)  # files plus gcsfuse's bookkeeping
        if model.checkpoint_gb and size + need <= memory:
            cache = FileCache("memory", size, f"the {model.checkpoint_gb:.0f} GB checkpoint fits in RAM beside the server")
            memory -= size
        elif model.checkpoint_gb:
            # On the node's ephemeral storage, the boot disk, sized for it (catalog/nodes.gpu_boot_disk_gb)
            # and requested by the sidecar so the scheduler counts it. Not Local SSD: whether GKE backs
            # ephemeral storage with a ComputeClass's storage.localSSDCount (rather than attaching raw
            # block devices) is documented nowhere we could find, and a cache that is not where the
            # scheduler thinks it is gets the pod evicted on every cold start.
            cache = FileCache("disk", size, f"{model.checkpoint_gb:.0f} GB does not fit in RAM beside the server; "
                                            "on the node's boot disk, sized for it")
        else:
            cache = FileCache("none", 0, "a checkpoint of unknown size: no cache, every read goes to the bucket")
    if memory < need:
        raise ValueError(f"the server needs about {need} GiB of host memory and {machine.name} leaves {memory} GiB")
    return PodMemory(cpu, memory, cache)


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    basis: str


def cold_start(model: Model, quantize: Quantization, source: str, engine: str = "tgi", cache_disk_gb: int = 0,
               *, image_streamed: bool = False, reader: str = "fuse", shards: int = 1) -> list[Step]:
    """What one replica on a new node goes through before it serves (capacity assumed available).
    Each step's basis says where its figure comes from, or that it is assumed and why. `cache_disk_gb`:
    the file cache is on a boot disk of that size, whose write speed may bound the read.
    `image_streamed`: the image comes from Artifact Registry with image streaming on. `reader`
    "streamer": vLLM's Run:ai Model Streamer reads the bucket, once per tensor-parallel worker (`shards`)."""
    gb = model.checkpoint_gb
    pull_seconds, pull_basis = IMAGE_PULL.get(engine, IMAGE_PULL["tgi"])
    if image_streamed:
        pull_seconds, pull_basis = STREAMED_IMAGE_SECONDS, STREAMED_IMAGE_BASIS
    steps = [Step("GPU node boot and driver", NODE_SECONDS, "assumed: 2-5 min with capacity, no Google figure"),
             Step("image pull", pull_seconds, pull_basis)]
    if source == "bucket" and reader == "streamer":
        read = gb * max(1, shards)
        steps.append(Step(f"stream {gb:.1f} GB from the bucket", read / STREAMER_GB_PER_S,
                          f"assumed: Run:ai Model Streamer, {max(1, shards)} worker(s) each reading every file "
                          f"({read:.1f} GB) at {STREAMER_GB_PER_S:g} GB/s per node, a quarter of G2's 32 Gbps; no G2 measurement"))
    elif source == "bucket" and cache_disk_gb and pd_balanced_gb_per_s(cache_disk_gb) < BUCKET_GB_PER_S:
        rate = pd_balanced_gb_per_s(cache_disk_gb)
        steps.append(Step(f"read {gb:.1f} GB from the bucket", gb / rate,
                          f"sourced: bounded by the file cache's {cache_disk_gb} GB pd-balanced boot disk, about "
                          f"{rate:.2f} GB/s (Persistent Disk performance), below FUSE's {BUCKET_GB_PER_S} GB/s"))
    elif source == "bucket":
        steps.append(Step(f"read {gb:.1f} GB from the bucket", gb / BUCKET_GB_PER_S,
                          f"sourced: Cloud Storage FUSE parallel downloads, {BUCKET_GB_PER_S} GB/s, the low end of Google's "
                          f"0.5-1.0 GB/s (no G2 measurement)"))
    else:
        steps.append(Step(f"download {gb:.1f} GB from the Hub", gb / HUB_GB_PER_S,
                          f"assumed: {HUB_GB_PER_S * 1000:.0f} MB/s, the Hub is not ours to measure"))
        steps.append(Step("read it back from the pod's disk", gb / PD_SSD_GB_PER_S, f"sourced: pd-ssd, about {PD_SSD_GB_PER_S * 1000:.0f} MB/s (Persistent Disk performance)"))
    if not quantize.prequantized and quantize.name != "none":
        steps.append(Step(f"quantize to {quantize.name} at load", model.params_billion * QUANTIZE_SECONDS_PER_BILLION,
                          f"assumed: {QUANTIZE_SECONDS_PER_BILLION} s per billion parameters beyond the read "
                          f"(per tensor on the GPU, overlapped with it)"))
    warmup = ("assumed: torch.compile (its cache is in the container, so every cold start compiles) and CUDA-graph "
              "capture, 2 min, not measured on L4" if engine == "vllm" else "assumed: 1-2 min, not measured on L4")
    steps.append(Step("engine start and warm-up", WARMUP_SECONDS, warmup))
    return steps


def startup_budget_seconds(steps: list[Step]) -> int:
    """The startup probe's budget: everything after the node is up, with a margin, in whole minutes."""
    after_node = sum(s.seconds for s in steps if s.name != "GPU node boot and driver")
    return max(STARTUP_FLOOR_SECONDS, math.ceil(after_node * BUDGET_MARGIN / 60) * 60)


def minutes(steps: list[Step]) -> float:
    return sum(s.seconds for s in steps) / 60


def loader_timeout_seconds(model: Model) -> int:
    """How long `pulumi up` waits for the loader Job: the Hub download at a third of the assumed
    speed (a slow or throttled Hub is exactly when it must not fail), plus 30 minutes."""
    return math.ceil(model.checkpoint_gb / (HUB_GB_PER_S / 3) + 30 * 60)
