"""What is specific to Text Generation Inference, kept in one place so the serving engine can be
swapped (TGI entered maintenance mode on 2025-12-11; Hugging Face points to vLLM and SGLang)."""

from __future__ import annotations

PORT = 8080  # Google's TGI image sets PORT=8080 (team facts, tgi.md); we set it explicitly too
HEALTH_PATH = "/health"  # 200 when ready, 503 when unhealthy; the port opens only after warm-up
TOKEN_ENV = "HF_TOKEN"  # what the launcher reads
LEGACY_TOKEN_ENV = "HUGGING_FACE_HUB_TOKEN"  # the older name Google's samples use, still honoured
API_KEY_ENV = "API_KEY"  # when set, the router requires "Authorization: Bearer <key>"


def env(*, model_id: str, shards: int, quantize: str, hf_home: str, max_input_tokens: int,
        max_total_tokens: int, drain_seconds: int) -> dict[str, str]:
    """Plain (non-secret) launcher settings; every launcher option is also an env var."""
    values = {
        "MODEL_ID": model_id,
        "NUM_SHARD": str(shards),
        "PORT": str(PORT),
        "HF_HOME": hf_home,
        # How long the router drains in-flight requests after SIGTERM (default 90 s, longer than
        # any grace period we get), so it finishes before the kubelet's SIGKILL.
        "GRACEFUL_TERMINATION_TIMEOUT": str(drain_seconds),
        "USAGE_STATS": "off",
    }
    if quantize != "none":
        values["QUANTIZE"] = quantize
    if max_total_tokens:
        values["MAX_INPUT_TOKENS"] = str(max_input_tokens)
        values["MAX_TOTAL_TOKENS"] = str(max_total_tokens)
    return values
