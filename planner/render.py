"""Turn recorded inputs into files a person can read: secrets replaced by a marker, numbers the
engine passed as floats back to integers, values only the mocks made up named as such."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from planner.harness import Evaluation, transform

SECRET_MARKER = "[secret]"


def redact(value: Any, plaintexts: Iterable[str], computed: dict[str, str]) -> Any:
    """Secret-wrapped values become the marker; so does any string that contains a known secret in
    clear (a token someone put in a stack file without --secret)."""
    plaintexts = [p for p in plaintexts if p]

    def leaf(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str):
            return SECRET_MARKER if any(p in v for p in plaintexts) else computed.get(v, v)
        return v

    return transform(value, _mask, leaf)


def _mask(value: Any) -> Any:
    """Keep a secret's shape (a map of keys stays a map, so the object still validates), hide leaves."""
    return transform(value, _mask, lambda _: SECRET_MARKER)


# Dependency order, as `kubectl apply` would want them; the engine's registration order varies.
_KIND_ORDER = ["Namespace", "ComputeClass", "Secret", "Service", "NetworkPolicy", "Deployment", "PodDisruptionBudget"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9.-]+", "-", text).strip("-").lower()


def _rank(kind: Any) -> int:
    return _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)


def write(ev: Evaluation, out_dir: Path, plaintexts: Iterable[str]) -> tuple[list[dict], list[Path]]:
    """Write Kubernetes objects to k8s/, GCP inputs to gcp/, stack outputs to outputs.yaml.
    Returns the rendered Kubernetes objects (for validation) and every file written."""
    plaintexts = list(plaintexts)
    for old in out_dir.glob("**/*.yaml"):
        old.unlink()
    (out_dir / "k8s").mkdir(parents=True, exist_ok=True)
    (out_dir / "gcp").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    objects: list[dict] = []

    def dump(path: Path, data: Any) -> None:
        path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
        written.append(path)

    k8s = sorted(ev.k8s_objects(), key=lambda r: (_rank(r.inputs.get("kind")), r.name))
    for i, r in enumerate(k8s, 1):
        obj = redact(r.inputs, plaintexts, ev.computed)
        objects.append(obj)
        dump(out_dir / "k8s" / f"{i:02d}-{_slug(obj['kind'])}-{_slug(obj['metadata'].get('name', r.name))}.yaml", obj)
    for i, r in enumerate(sorted(ev.gcp_resources(), key=lambda r: (r.type, r.name)), 1):
        kind = r.type.split(":")[-1]
        dump(out_dir / "gcp" / f"{i:02d}-{_slug(kind)}-{_slug(r.name)}.yaml",
             {"type": r.type, "name": r.name, "inputs": redact(r.inputs, plaintexts, ev.computed)})
    outputs = {k: SECRET_MARKER if k in ev.secret_outputs else redact(v, plaintexts, ev.computed) for k, v in ev.outputs.items()}
    dump(out_dir / "outputs.yaml", outputs)
    return objects, written
