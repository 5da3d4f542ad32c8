"""Config as the Pulumi CLI resolves it: Pulumi.yaml defaults, then Pulumi.<stack>.yaml, passed to
the program as strings ("true"/"false", JSON for lists and objects)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
# What `make plan` uses for a `secure:` value it cannot decrypt: set, but hidden.
SECURE_PLACEHOLDER = "plan-placeholder-secure-value"


class StackConfigError(Exception):
    """The stack file itself is unusable (missing, not YAML). Reported like bad config."""


@dataclass
class ResolvedConfig:
    project: str
    stack: str
    values: dict[str, str] = field(default_factory=dict)  # "namespace:key" -> CLI string
    secret_keys: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)  # secure: values the plan cannot decrypt
    plaintext_secrets: list[str] = field(default_factory=list)  # declared secret, written in clear


def cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def project_file(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())


def resolve(stack: str, overrides: dict[str, Any] | None = None, root: Path = ROOT) -> ResolvedConfig:
    """Resolve the stack's config; `overrides` (bare or namespaced keys) act as `pulumi config set`."""
    project = project_file(root)
    name = project["name"]
    declared = project.get("config") or {}
    out = ResolvedConfig(project=name, stack=stack)

    def full(key: str) -> str:
        return key if ":" in key else f"{name}:{key}"

    for key, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {"default": spec}
        if spec.get("secret"):
            out.secret_keys.add(full(key))
        if "default" in spec:
            out.values[full(key)] = cli_value(spec["default"])

    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise StackConfigError(f"stack {stack!r} has no Pulumi.{stack}.yaml; create it or use one of: "
                               + ", ".join(sorted(p.name[7:-5] for p in root.glob("Pulumi.*.yaml"))))
    try:
        stack_file = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise StackConfigError(f"Pulumi.{stack}.yaml is not valid YAML: {e}") from None
    for key, value in (stack_file.get("config") or {}).items():
        key = full(key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            out.values[key] = SECURE_PLACEHOLDER
            out.secret_keys.add(key)
            out.hidden.add(key)
            continue
        if key in out.secret_keys:
            out.plaintext_secrets.append(key)
        out.values[key] = cli_value(value)

    for key, value in (overrides or {}).items():
        out.values[full(key)] = cli_value(value)
    return out
