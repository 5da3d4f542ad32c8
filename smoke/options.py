"""The command line of `python -m smoke` (option names are a public interface) and the prompt set."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from components.serving.engines import ENGINES
from smoke import EXIT_USAGE, SmokeError

# Right after `pulumi up` the server is already ready (the Deployment's roll-out wait covers the
# cold start), so the wait matters after a restart or a Spot reclaim, when the pod reloads the
# model: 15 to 60 minutes for Mixtral. 30 minutes covers a typical reload while keeping a CI job
# bounded; for a first cold start of a large model pass --wait 3600.
DEFAULT_WAIT_S = 1800
# A short load: enough requests for a p95 that means something, at a concurrency a small team
# would produce, and it finishes in a minute or two on one L4 pair.
DEFAULT_REQUESTS = 20
DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_TOKENS = 128  # what the stack's queryCommand asks for
# One request of 128 tokens takes seconds; minutes when the server queues behind a long batch.
DEFAULT_TIMEOUT_S = 120.0

# Upper bounds keep every loop bounded in count and time even with a typo in an option.
MAX_REQUESTS = 10_000
MAX_CONCURRENCY = 512
MAX_TOKENS_LIMIT = 32_768

# Built-in prompts: short, varied, with a clear non-empty answer. Sent as they are to
# /v1/completions (no chat template), as the queryCommand does.
DEFAULT_PROMPTS = (
    "[INST] How do I deploy a container on Kubernetes? [/INST]",
    "[INST] Explain in two sentences what a GPU does for a language model. [/INST]",
    "[INST] Write a haiku about autumn rain. [/INST]",
    "[INST] List three uses of a hash map. [/INST]",
    "[INST] What is the capital of Australia, and why is it not Sydney? [/INST]",
    "[INST] Summarise the plot of Romeo and Juliet in one paragraph. [/INST]",
    "[INST] Give a Python function that reverses a string. [/INST]",
    "[INST] Why is the sky blue? Answer briefly. [/INST]",
)


@dataclass(frozen=True)
class Options:
    url: Optional[str]
    stack: str
    requests: int
    concurrency: int
    max_tokens: int
    timeout_s: float
    wait_s: float
    prompts: tuple[str, ...]
    json_path: Optional[Path]
    engine: Optional[str]
    model: Optional[str]
    replicas: Optional[int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2 like every other failure."""

    def error(self, message: str):  # type: ignore[override]
        raise SmokeError(f"{message} (see python -m smoke --help)", EXIT_USAGE)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m smoke", description="Check that the deployed model answers, then measure "
                "TTFT, latency, tokens per second and $ per million output tokens on each capacity tier.")
    p.add_argument("--url", help="endpoint, e.g. http://127.0.0.1:8080 (default: discovered from the stack outputs)")
    p.add_argument("--stack", default="dev", help="stack for prices, replicas and discovery (default dev)")
    p.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help=f"load requests (default {DEFAULT_REQUESTS})")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                   help=f"requests in flight at once (default {DEFAULT_CONCURRENCY})")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                   help=f"max output tokens per request (default {DEFAULT_MAX_TOKENS})")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds one request may take, streaming included (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--wait", type=float, default=DEFAULT_WAIT_S,
                   help=f"seconds to wait for /health to answer 200 (default {DEFAULT_WAIT_S})")
    p.add_argument("--prompts", type=Path, default=None, metavar="FILE",
                   help="file of prompts, one per line ('#' lines ignored); default: a built-in set of 8")
    p.add_argument("--json", type=Path, default=None, dest="json_path", metavar="FILE", help="also write the report as JSON to FILE")
    p.add_argument("--engine", choices=tuple(ENGINES), default=None,
                   help="serving engine, for the report (default: the stack output `engine`, if any)")
    p.add_argument("--model", default=None, help="model name sent in requests (default: the server's /v1/models)")
    p.add_argument("--replicas", type=int, default=None,
                   help="replicas serving, for the cost (default: the stack's replicas or autoscaling minReplicas)")
    return p


def _bounded(name: str, value, low, high) -> None:
    if not low <= value <= high:
        raise SmokeError(f"--{name} {value}: give a value from {low} to {high}", EXIT_USAGE)


def load_prompts(path: Optional[Path]) -> tuple[str, ...]:
    if path is None:
        return DEFAULT_PROMPTS
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SmokeError(f"--prompts {path}: cannot read it ({e.__class__.__name__}: {e})", EXIT_USAGE) from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    if not prompts:
        raise SmokeError(f"--prompts {path}: no prompts in it; put one prompt per line", EXIT_USAGE)
    return prompts


def parse(argv: Optional[list[str]] = None) -> Options:
    a = parser().parse_args(argv)
    _bounded("requests", a.requests, 1, MAX_REQUESTS)
    _bounded("concurrency", a.concurrency, 1, MAX_CONCURRENCY)
    _bounded("max-tokens", a.max_tokens, 1, MAX_TOKENS_LIMIT)
    _bounded("timeout", a.timeout, 0.1, 3600)
    _bounded("wait", a.wait, 0, 86_400)
    if a.replicas is not None:
        _bounded("replicas", a.replicas, 1, 1000)
    if a.json_path is not None and not a.json_path.parent.is_dir():
        # Checked now, not after a load of several minutes.
        raise SmokeError(f"--json {a.json_path}: no directory {a.json_path.parent}", EXIT_USAGE)
    url = a.url.rstrip("/") if a.url else None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SmokeError(f"--url {display_url(url)}: give an http:// or https:// URL, e.g. http://127.0.0.1:8080",
                             EXIT_USAGE)
        if parts.path.lower().endswith("/v1"):
            # The OpenAI client's base_url habit. smoke adds /health and /v1/... itself, and some
            # servers answer /v1/health, so this URL would pass readiness and then 404 on /v1/v1/...
            raise SmokeError(f"--url {display_url(url)}: give the server's root, without /v1 (e.g. "
                             f"{display_url(url)[:-3]}); smoke adds /health and /v1/completions itself", EXIT_USAGE)
    return Options(url=url, stack=a.stack, requests=a.requests, concurrency=a.concurrency, max_tokens=a.max_tokens,
                   timeout_s=a.timeout, wait_s=a.wait, prompts=load_prompts(a.prompts), json_path=a.json_path,
                   engine=a.engine, model=a.model, replicas=a.replicas)


def display_url(url: str) -> str:
    """The URL without user:password, so a credential in it never reaches the screen or the JSON."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def redact(value, url: Optional[str]):
    """`value` (a string, or a report of dicts and lists) with the password of `url` replaced by
    `***` wherever it appears: a safety net behind display_url for messages a library composed."""
    password = urlsplit(url).password if url else None
    if not password:
        return value
    if isinstance(value, str):
        return value.replace(password, "***")
    if isinstance(value, dict):
        return {k: redact(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, url) for v in value]
    return value
