"""The interface every serving engine implements (see components/serving/engines/__init__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from components.operations.server_metrics import ServerMetrics


@dataclass(frozen=True)
class Launch:
    """What the program asks an engine to serve, in engine-neutral terms."""
    model: str  # a Hugging Face id, or a local directory holding the checkpoint
    served_name: str  # the name clients put in the request's "model" field
    quantize: str  # the catalog's quantization name ("none", "bitsandbytes-nf4", "awq", ...)
    shards: int  # tensor parallelism: every GPU of the node
    max_input_tokens: int  # 0: the engine decides (a model outside the catalog)
    max_total_tokens: int
    max_batch_prefill_tokens: int
    gpu_memory_fraction: float  # share of each GPU the engine may take (the rest: CUDA context etc.)
    hf_home: str  # the Hub cache directory (a writable volume)
    offline: bool  # the weights are local: the engine must not reach the Hub
    # `model` is a gs:// prefix the engine streams itself (vLLM's Run:ai Model Streamer), no mount
    stream_weights: bool = False


@dataclass(frozen=True)
class Container:
    """How the container runs: command (None keeps the image's entrypoint), args and plain env."""
    command: Optional[list[str]]
    args: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Engine:
    name: str  # the value of config `engine`
    title: str  # for people: plan, exports
    default_image: str
    port: int
    health_path: str  # 200 when ready; the port opens only after the model is loaded
    metrics: ServerMetrics
    token_envs: tuple[str, ...]  # variables the engine reads the Hugging Face token from
    api_key_env: Optional[str]  # variable it reads a bearer API key from (None: not supported)
    # Shutdown: the preStop pause, the engine's own drain after SIGTERM, and the pod's grace period
    # (preStop + drain + a margin). Both engines stop taking requests on SIGTERM and finish running ones.
    prestop_seconds: int
    drain_seconds: int
    grace_seconds: int
    container: Callable[[Launch, str], Container]  # (launch, image) -> how to run it
    hf_home_for: Callable[[str], str]  # image -> its Hub cache directory
    dense_moe: Callable[[str], bool]  # quantize -> runs every expert of a mixture-of-experts model
    check_image: Callable[[str, str], Optional[str]]  # (image, exposure) -> problem, or None
    gpu_driver: str = "default"  # what the ComputeClass asks GKE to install: default or latest
    prefill_chunk: int = 0  # tokens per prefill step when the engine chunks long prompts (0: one batch)
    warmup_logits: bool = False  # its warm-up computes vocabulary-wide logits for every prefill token
    # /v1/models lists the served name (vLLM's --served-model-name); False: it lists the model path the
    # engine loaded (TGI: MODEL_ID, "/models" for bucket weights), though any name is accepted in requests
    lists_served_name: bool = True
    # GKE accelerators on which the engine cannot chunk the prefill (it then runs a prompt in one batch)
    unchunked_accelerators: tuple[str, ...] = ()
    # What bf16 weights that do not fit are quantized to at load, in order of preference; the first
    # is also what a model of unknown size gets (nothing to check it against).
    load_time_quantize: tuple[str, ...] = ()
    unknown_model_quantize: str = "none"

    def chunk_for(self, accelerator: str) -> int:
        """Prefill tokens per step on this GPU; 0 when a prompt is prefilled in one batch."""
        return 0 if accelerator in self.unchunked_accelerators else self.prefill_chunk
