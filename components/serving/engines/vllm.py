"""vLLM's OpenAI-compatible server: the engine Google's current GKE samples, the GKE Inference Gateway
and most benchmarks use. Facts checked against the vLLM 0.32.0 release (wheel sources): entrypoint
`vllm serve`, flags in engine/arg_utils.py and entrypoints/launchers/cli_args.py.
"""

from __future__ import annotations

import json
from typing import Optional

from catalog.loading import STREAMER_BUFFER_GIB, STREAMER_CONCURRENCY
from components.serving.engines.base import Container, Engine, Launch
from components.operations.server_metrics import ServerMetrics

# 0.32.0 was uploaded to PyPI on 2026-10-18; 0.33.0 followed on 2026-11-02 (PyPI upload dates,
# review-engines.md Minor) and is not adopted here until checked like this one. 0.32.0 has
# --shutdown-timeout (from 0.18.0) and Marlin MoE kernels for AWQ and GPTQ Mixtral on sm89 (L4).
# Unsuffixed tags from 0.20 are CUDA 13 builds (a maintainer in vllm-project/vllm#42738: "After
# v0.20.0, default wheel/docker nightly version is cu130"; vllm-project/router#154: "The vLLM 0.20.0
# release has switched to CUDA 13 for the default wheels"; the review names vllm#39878 as the
# switching PR, not checked here), which need an R580 or newer driver: the ComputeClass asks GKE for its
# "latest" driver when this engine runs (components/platform/compute_class.py).
DEFAULT_IMAGE = "vllm/vllm-openai:v0.32.0"
PORT = 8000  # vllm serve's default; /health and /metrics are on it too
HEALTH_PATH = "/health"  # 200, or 503 once the engine is dead; the port opens after the load
# huggingface_hub in the image reads HF_TOKEN first, HUGGING_FACE_HUB_TOKEN for compatibility.
TOKEN_ENVS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# Read when --api-key is not given (serve/middleware/register.py). It guards /v1 (and /v2,
# /inference); /health and /metrics stay open, and so does /invocations: see check_image.
API_KEY_ENV = "VLLM_API_KEY"
HF_HOME = "/root/.cache/huggingface"  # the image sets none; huggingface_hub's default as root

# vLLM's --quantization value for each catalog quantization it runs (model_executor/layers/
# quantization/__init__.py). awq and awq_marlin both pick the Marlin kernels in 0.32, but we say
# awq_marlin so that an older image cannot fall back to the slow AWQ kernel. bitsandbytes was
# removed in 0.28 (vllm#39583) and so is absent here; catalog/engine-quantizations.csv has the rows.
QUANTIZATION_FLAG = {"awq": "awq_marlin", "gptq": "gptq_marlin", "fp8": "fp8", "compressed-tensors": "compressed-tensors"}

METRICS = ServerMetrics(
    engine="vllm",
    queue="vllm:num_requests_waiting",  # Gauge "Number of requests waiting to be processed."
    running="vllm:num_requests_running",  # Gauge "Number of requests in model execution batches."
    request_latency="vllm:e2e_request_latency_seconds",  # Histogram "e2e request latency in seconds"
    time_to_first_token="vllm:time_to_first_token_seconds",  # Histogram "time to first token in seconds"
    # Counter `vllm:generation_tokens` in code; prometheus_client exposes it as ..._total, and GMP
    # stores prometheus.googleapis.com/vllm:generation_tokens_total/counter.
    generated_tokens="vllm:generation_tokens_total",
    generated_tokens_kind="counter",
)


def container(launch: Launch, image: str) -> Container:
    args = [
        launch.model,  # positional: `--model` is deprecated in `vllm serve`
        f"--served-model-name={launch.served_name}",  # clients send the Hub id, whatever the path
        "--host=0.0.0.0",
        f"--port={PORT}",
        f"--tensor-parallel-size={launch.shards}",
        f"--gpu-memory-utilization={launch.gpu_memory_fraction:.2f}",
        f"--shutdown-timeout={ENGINE.drain_seconds}",  # default 0 aborts running requests on SIGTERM
    ]
    if launch.max_total_tokens:
        args.append(f"--max-model-len={launch.max_total_tokens}")
    if launch.max_batch_prefill_tokens:
        args.append(f"--max-num-batched-tokens={launch.max_batch_prefill_tokens}")
    flag = QUANTIZATION_FLAG.get(launch.quantize)
    if flag:
        args.append(f"--quantization={flag}")
    if launch.stream_weights:
        # The Run:ai Model Streamer reads the safetensors straight from gs:// into GPU memory (0.32:
        # vllm/config/load.py load formats, review-engines.md B4; Cloud Storage support built in from
        # vLLM 0.11.1, GKE "Run:ai Model Streamer" how-to). The image installs
        # runai-model-streamer[s3,gcs,azure]>=0.15.7 (vLLM docker/Dockerfile, RUNAI_MODEL_STREAMER_VERSION;
        # read in a 2026 copy, not at the 0.32.0 tag). It pulls config and tokenizer from the same prefix
        # (the loader copies them there) and authenticates through the metadata server: the pod's
        # Workload Identity, which may read the bucket. `concurrency`: reader threads per worker;
        # `memory_limit`: the CPU buffer per worker, which the pod's memory counts
        # (catalog/loading.pod_memory). `distributed` is left off: not checked for 0.32 with Mixtral.
        extra = {"concurrency": STREAMER_CONCURRENCY, "memory_limit": STREAMER_BUFFER_GIB * 2**30}
        args += ["--load-format=runai_streamer", f"--model-loader-extra-config={json.dumps(extra, separators=(',', ':'))}"]
    env = {"HF_HOME": launch.hf_home, "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    if launch.offline:
        env["HF_HUB_OFFLINE"] = "1"
    return Container(command=["vllm", "serve"], args=args, env=env)


def check_image(image: str, exposure: str) -> Optional[str]:
    # --api-key guards only /v1, /v2, /inference and /cohere (serve/middleware/authenticate.py,
    # GUARDED_PREFIX); /invocations runs the same inference unauthenticated. A NetworkPolicy works on
    # ports, not paths, so a public load balancer cannot be made safe here.
    if exposure == "public":
        return ("vLLM serves /invocations (the same inference as /v1) without checking the API key, "
                "so it cannot sit behind a public load balancer")
    return None


# Same 15 s timeline as TGI (components/serving/engines/tgi.py): Spot gives the pod 15 s, and
# --shutdown-timeout makes vLLM finish running requests within the drain instead of aborting them.
# During the drain /health stays 200 (the engine is alive), so the preStop pause is what takes the
# pod out of the Service before SIGTERM.
ENGINE = Engine(
    name="vllm",
    title="vLLM",
    default_image=DEFAULT_IMAGE,
    port=PORT,
    health_path=HEALTH_PATH,
    metrics=METRICS,
    token_envs=TOKEN_ENVS,
    api_key_env=API_KEY_ENV,
    prestop_seconds=5,
    drain_seconds=9,
    grace_seconds=15,
    container=container,
    hf_home_for=lambda image: HF_HOME,
    dense_moe=lambda quantize: False,  # fused MoE kernels for every quantization it accepts
    check_image=check_image,
    gpu_driver="latest",  # the CUDA 13 build needs a driver from the R580 branch or newer
    # Chunked prefill: long prompts go through in steps of --max-num-batched-tokens; 2048 is vLLM's
    # default for GPUs under 70 GiB (0.32 v1/engine get_batch_defaults). Stated explicitly so a
    # release that changes the default cannot change the memory the plan counted.
    prefill_chunk=2048,
    # vLLM dropped bitsandbytes (0.28, vllm#39583) but quantizes to fp8 at load on Ada and newer (L4 is sm89).
    load_time_quantize=("fp8",),
)
