"""A content-addressed cache of the plan's result, so a warm `make plan` with nothing changed
returns at once instead of re-importing the SDKs and re-evaluating the program.

The key covers everything the result depends on: every project source and data file, the stack
files, the arguments and the versions of the SDKs and schemas. The rendered files are checked too:
if one was removed or edited, the plan runs again. Stdlib only, so a hit imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SKIP_DIRS = {"venv", ".venv-scan", "build", ".git", "tests", "bench", ".hypothesis", "__pycache__", ".pytest_cache"}
_SUFFIXES = {".py", ".csv", ".yaml", ".txt"}
_PACKAGES = ("pulumi", "pulumi_gcp", "pulumi_kubernetes", "kubernetes-validate", "jsonschema", "PyYAML")
CACHE_FILE = ".plan-cache.json"


def _sources(root: Path) -> list[Path]:
    # os.walk, pruning the skipped folders as it goes: rglob would walk every virtualenv first
    # (most of a warm plan's time once they hold a few thousand files).
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".venv")]
        found += [Path(folder) / f for f in files if Path(f).suffix in _SUFFIXES]
    return sorted(found)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def key(argv: list[str], stack_dir: Path) -> str:
    h = hashlib.sha256(json.dumps(argv).encode())
    for path in _sources(ROOT) + sorted(stack_dir.glob("Pulumi*.yaml")):
        h.update(str(path).encode())
        h.update(_digest(path).encode())
    for name in _PACKAGES:
        h.update(f"{name}=={metadata.version(name)}".encode())
    return h.hexdigest()


def lookup(out_dir: Path, cache_key: str) -> dict | None:
    try:
        entry = json.loads((out_dir / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if entry.get("key") != cache_key:
        return None
    for name, digest in entry["files"].items():
        path = out_dir / name
        if not path.is_file() or _digest(path) != digest:
            return None
    return entry


def store(out_dir: Path, cache_key: str, code: int, stdout: str, stderr: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {str(p.relative_to(out_dir)): _digest(p) for p in sorted(out_dir.rglob("*.yaml"))}
    (out_dir / CACHE_FILE).write_text(json.dumps(
        {"key": cache_key, "code": code, "stdout": stdout, "stderr": stderr, "files": files}))
