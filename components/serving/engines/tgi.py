"""Text Generation Inference (Hugging Face). The tutorial's engine and the default. In maintenance
mode since 2025-12-11 (its README); Hugging Face points to vLLM and SGLang (components/serving/engines/vllm.py).

Launcher options are all environment variables too (TGI docs, reference/launcher.md).
"""

from __future__ import annotations

import re
from typing import Optional

from components.serving.engines.base import Container, Engine, Launch
from components.operations.server_metrics import ServerMetrics

# The newest TGI release (3.3.7, 2025-12-18; TGI is in maintenance mode since), pinned by tag.
# Why not Google's TGI builds (us-docker.pkg.dev/deeplearning-platform-release/gcr.io/
# huggingface-text-generation-inference-cu124.<major>-<minor>...): they carry no version tags, only
# a moving `latest` inside one repository per release, so they cannot be pinned by tag, and no digest
# can be verified from here; the newest published one is TGI 2.4.0 (huggingface/Google-Cloud-Containers
# README). The tutorial's cu124.2-3 (TGI 2.3.1) serves /invocations outside API_KEY (fixed in 2.4.0,
# TGI #2683) and runs the launcher without `exec`, so SIGTERM never reaches it. 3.3.7 has both fixes
# and GRACEFUL_TERMINATION_TIMEOUT (3.2.2+). Its launcher is the image's entrypoint; PORT is set below
# (the image defaults to 80) and HF_HOME is /data.
DEFAULT_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.7"
GOOGLE_REGISTRY = "us-docker.pkg.dev/deeplearning-platform-release/"

PORT = 8080  # the tutorial's port (Google's TGI image sets PORT=8080); set explicitly for every image
HEALTH_PATH = "/health"  # 200 when ready, 503 when unhealthy; the port opens only after warm-up
TOKEN_ENV = "HF_TOKEN"  # what the launcher reads
LEGACY_TOKEN_ENV = "HUGGING_FACE_HUB_TOKEN"  # the older name Google's samples use, still honoured
API_KEY_ENV = "API_KEY"  # when set, the router requires "Authorization: Bearer <key>"

# Before 2.4 the router served /invocations (the SageMaker route) outside the API-key check, so a
# public load balancer would serve anyone who knew that path.
MIN_VERSION_FOR_PUBLIC = (2, 4)
# GRACEFUL_TERMINATION_TIMEOUT (drain after SIGTERM) exists from this version; older routers stop at once.
MIN_VERSION_FOR_DRAIN = (3, 2, 2)

# Google's image sets HF_HOME=/tmp (team facts, tgi.md); the upstream image uses /data.
GOOGLE_HF_HOME = "/tmp"
UPSTREAM_HF_HOME = "/data"

# Quantizations whose Mixtral-style MoE runs on TGI's fused sparse kernels; the others (bitsandbytes,
# eetq, exl2, marlin, ...) fall back to DenseMoELayer, every expert on every token, one expert after
# another. At v3.3.7 SparseMoELayer.is_supported holds for unquantized and FP8 weights and for
# GPTQ/AWQ through Marlin only when can_use_marlin_moe_gemm accepts `quantize in {"awq", "gptq"}`
# (server/text_generation_server/layers/moe/__init__.py, layers/moe/gptq_marlin.py:29-43), so
# QUANTIZE=marlin is not among them.
SPARSE_MOE_QUANTIZE = ("none", "fp8", "gptq", "awq")

# TGI 3.x prefills long prompts in chunks of MAX_BATCH_PREFILL_TOKENS: the router refuses
# max_input_tokens > max_batch_prefill_tokens only when the backend does not support chunking
# (v3.3.7 backends/v3/src/main.rs:188), and the server chunks when PREFILL_CHUNKING (default "1",
# models/globals.py:15) and the attention is flashinfer or flashdecoding (models/model.py:73-94). The
# launcher picks flashinfer for head_dim 64, 128 and 256 (launcher/src/main.rs:131-199), which every
# catalog model has (tests/test_catalog.py checks it), and Mixtral, Mistral, Llama, Gemma and Qwen run
# on FlashCausalLM, which supports chunking (flash_causal_lm.py:1214). 4096 is the launcher's own
# fallback for MAX_BATCH_PREFILL_TOKENS (main.rs:2114-2151); stated so the plan counts what runs, and
# it bounds how long one prefill step stalls the decode of other requests.
PREFILL_CHUNK = 4096
# Before Ampere (compute capability 8.0) TGI's flash-attention kernels do not load
# (layers/attention/cuda.py: "FlashAttention only supports Ampere GPUs or newer"), the model falls
# back off FlashCausalLM, and the prefill is not chunked: MAX_INPUT_TOKENS <= MAX_BATCH_PREFILL_TOKENS
# again. GKE's pre-Ampere accelerators (GKE "About GPUs": T4 is sm75, V100 sm70, P100 sm60, P4 sm61).
PRE_AMPERE = ("nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-tesla-p100", "nvidia-tesla-p4", "nvidia-tesla-k80")

METRICS = ServerMetrics(
    engine="tgi",
    queue="tgi_queue_size",  # Gauge "Current queue size"
    running="tgi_batch_current_size",  # Gauge "Current batch size"
    request_latency="tgi_request_duration",  # Histogram "Total time spent processing the request (e2e latency)"
    # TGI has no time-to-first-token histogram. tgi_request_queue_duration is the time in the queue
    # only (no prefill), so it is not shown as if it were TTFT.
    time_to_first_token=None,
    # Histogram "Generated tokens per request": rate(_sum) is tokens per second. It is recorded when a
    # request ends, so a long generation shows up at its end, not while it streams.
    generated_tokens="tgi_request_generated_tokens",
    generated_tokens_kind="histogram",
)


def version_of(image: str) -> Optional[tuple[int, ...]]:
    """The TGI version an image reference names, when it names one."""
    google = re.search(r"text-generation-inference-cu\d+\.(\d+)-(\d+)(?:-(\d+))?\.", image)
    if google:
        return tuple(int(g) for g in google.groups() if g is not None)
    tag = re.search(r"text-generation-inference:v?(\d+)\.(\d+)(?:\.(\d+))?", image)
    if tag:
        return tuple(int(g) for g in tag.groups() if g is not None)
    return None


def hf_home_for(image: str) -> str:
    return GOOGLE_HF_HOME if image.startswith(GOOGLE_REGISTRY) else UPSTREAM_HF_HOME


def check_image(image: str, exposure: str) -> Optional[str]:
    version = version_of(image)
    if exposure == "public" and version is not None and version < MIN_VERSION_FOR_PUBLIC:
        shown = ".".join(map(str, version))
        return (f"TGI {shown} serves /invocations without checking the API key; a public load balancer "
                f"needs TGI {'.'.join(map(str, MIN_VERSION_FOR_PUBLIC))} or later")
    return None


def drains(image: str) -> bool:
    version = version_of(image)
    return version is None or version >= MIN_VERSION_FOR_DRAIN


def container(launch: Launch, image: str) -> Container:
    """TGI keeps the image's entrypoint (text-generation-launcher); everything goes in env."""
    env = {
        "MODEL_ID": launch.model,
        "NUM_SHARD": str(launch.shards),
        "PORT": str(PORT),
        "HF_HOME": launch.hf_home,
        "USAGE_STATS": "off",
    }
    if drains(image):
        # How long the router drains in-flight requests after SIGTERM (default 90 s, longer than any
        # grace period we get), so it finishes before the kubelet's SIGKILL.
        env["GRACEFUL_TERMINATION_TIMEOUT"] = str(ENGINE.drain_seconds)
    if launch.quantize != "none":
        env["QUANTIZE"] = launch.quantize
    if launch.max_total_tokens:
        env["MAX_INPUT_TOKENS"] = str(launch.max_input_tokens)
        env["MAX_TOTAL_TOKENS"] = str(launch.max_total_tokens)
    if launch.max_batch_prefill_tokens:
        # The prefill chunk; warm-up runs one prefill of this many tokens (catalog.token_plan sizes it).
        env["MAX_BATCH_PREFILL_TOKENS"] = str(launch.max_batch_prefill_tokens)
    if launch.model != launch.served_name:
        # Weights from a local directory. TGI has no served-name option: /v1/models lists MODEL_ID, the
        # directory ("/models"; router/src/server.rs:176-186, model_id = the tokenizer path at :1730),
        # and answers a request naming any model, echoing that name back (:1198). Clients keep sending
        # the Hub id.
        env["HF_HUB_OFFLINE"] = "1"
    elif launch.offline:
        env["HF_HUB_OFFLINE"] = "1"
    return Container(command=None, args=[], env=env)


# Shutdown timing. On a Spot reclaim GKE gives non-system pods 15 s of the 30 s notice (GKE "Spot
# VMs": graceful shutdown, 15 s for pods then 15 s for critical system pods); a longer
# terminationGracePeriodSeconds does not buy more there. GKE can raise the node's window to 120 s
# (kubeletConfig.shutdownGracePeriodSeconds), but only from control plane 1.35.0-gke.1171000, in
# Preview, Standard, Spot only (GKE "Customize node system configuration"); the REGULAR channel may
# not be there, so the whole timeline fits the default 15 s, the same for every kind of stop:
#   0 s   pod marked terminating; endpoints controller starts removing it from the Service
#   0-5 s preStop pause: kube-proxy and load balancers stop sending new requests before TGI stops
#   5 s   SIGTERM to the launcher, which passes it to the router: it stops accepting and drains in-flight
#         requests for up to GRACEFUL_TERMINATION_TIMEOUT (9 s here; TGI 3.2.2+; an older image
#         given with `image` drains with no limit of its own, launcher/src/main.rs@v2.4.0, until the kill)
#   14 s  the drain has ended: requests still running are cut, clients retry on another replica
#   15 s  SIGKILL (and, on Spot, the node shuts down)
ENGINE = Engine(
    name="tgi",
    title="Text Generation Inference",
    default_image=DEFAULT_IMAGE,
    port=PORT,
    health_path=HEALTH_PATH,
    metrics=METRICS,
    token_envs=(TOKEN_ENV, LEGACY_TOKEN_ENV),
    api_key_env=API_KEY_ENV,
    prestop_seconds=5,
    drain_seconds=9,
    grace_seconds=15,
    container=container,
    hf_home_for=hf_home_for,
    dense_moe=lambda quantize: quantize not in SPARSE_MOE_QUANTIZE,
    check_image=check_image,
    prefill_chunk=PREFILL_CHUNK,
    unchunked_accelerators=PRE_AMPERE,
    lists_served_name=False,  # router/src/server.rs:176-186 lists MODEL_ID; no served-name option in 3.3.7
    warmup_logits=True,  # the warm-up requests prefill log-probabilities (backends/v3/src/client/grpc_client.rs)
    load_time_quantize=("bitsandbytes-nf4",),  # the tutorial's
    unknown_model_quantize="bitsandbytes-nf4",  # what this project always gave TGI
)
