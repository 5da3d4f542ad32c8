"""What a stack deploys, as one reviewed document: every resource's inputs (secrets masked, as the
offline plan prints them), the options `pulumi up` acts on (parent, provider, dependencies, ignored
fields, replacement order, timeouts, protection), the stack's outputs, and what `make plan` tells
the user about it (the summary with pod fit and cold start, and the forecast).

tests/golden/plan-<name>.json holds the document for each stack file and variant (DOCUMENTS); tests/test_golden_plans.py
renders the stacks again and fails on any difference, naming the resource and the field. A one-token
slip anywhere in what a stack deploys (a module constant, a default, a label, an option) shows there,
including the values mutation testing cannot reach (mutmut mutates only inside functions).

An intended change: `make golden` writes the documents again; review the diff like code.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
# Each stack file as it is, and variants that take the branches the stack files do not: weights from
# the Hub, an internal or a public load balancer with an API key, vLLM through the FUSE mount, an
# existing bucket, a multi-region internal Gateway, every pass-through key changed. name -> (stack file, config set on top, as `pulumi config set` would).
API_KEY = "golden-api-key-0123456789abcdef"
DOCUMENTS = {
    "dev": ("dev", {}), "prod": ("prod", {}), "vllm": ("vllm", {}), "global": ("global", {}),
    "dev-hub": ("dev", {"weightSource": "hub", "cacheStorageClass": "standard-rwo"}),
    "dev-internal": ("dev", {"exposure": "internal", "apiKey": API_KEY}),
    "dev-public": ("dev", {"exposure": "public", "apiKey": API_KEY}),
    "vllm-fuse": ("vllm", {"vllmLoadFormat": "fuse"}),
    "vllm-hub": ("vllm", {"weightSource": "hub"}),
    "prod-existing-bucket": ("prod", {"modelBucket": "my-team-models"}),
    "global-internal": ("global", {"exposure": "internal"}),
    # A model outside the catalog, without a size: no fit check, no file cache, the engine's defaults.
    "dev-uncatalogued": ("dev", {"model": "acme/small-model", "modelRevision": "0123456789abcdef0123456789abcdef01234567"}),
    # The same with its size given: the fit is checked against a KV cache estimated from the catalog's
    # largest ratio, the checkpoint taken as bf16 (catalog.unknown_model).
    "dev-uncatalogued-sized": ("dev", {"model": "acme/small-model", "modelRevision": "0123456789abcdef0123456789abcdef01234567",
                                       "modelParamsBillion": "7.2"}),
    # Every pass-through key set away from its default: a key a component drops shows here.
    "dev-tuned": ("dev", {
        "systemMachineType": "n2-standard-8", "network": "llm-vpc", "location": "us-east4", "clusterName": "team-llm",
        "namespace": "serving", "computeClassName": "team-gpus", "capacity": ["spot", "flex-start", "on-demand"],
        "flexStartMaxRunDurationSeconds": 86400, "flexStartLeadTimeSeconds": 3600, "activeMigration": True,
        "alertEmail": "oncall@example.com", "startupTimeoutMinutes": 30, "maxTotalTokens": 16384,
        "maxInputTokens": 8192, "replicas": 2, "deletionProtection": True, "privateNodes": True,
        "authorizedNetworks": ["198.18.0.0/24"], "priceSpot": "0.75", "priceFlexStart": "0.9", "hfHome": "/cache",
        "gpuQuota": 8, "image": "ghcr.io/huggingface/text-generation-inference:3.3.6"}),
}
STACKS = tuple(DOCUMENTS)
# Longer strings (the loader's program and requirements in its ConfigMap) are kept as their digest and
# length: any change still shows, and the golden file does not copy the source. JSON in a long string
# (the dashboard) is kept as the document it holds.
LONG = 1500


def _digest_long(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _digest_long(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_digest_long(v) for v in value]
    if isinstance(value, str) and len(value) > LONG:
        try:  # a document inside a string (a dashboard): kept as a document, to diff field by field
            return {"(JSON string)": _digest_long(json.loads(value))}
        except ValueError:
            pass
        return f"<{len(value)} characters, sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]}>"
    return value


def document(name: str) -> dict:
    """The stack rendered under the mocks with the test configuration (tests/conftest.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import TOKEN, evaluate
    from planner.render import redact

    stack, config = DOCUMENTS[name]
    ev = evaluate(stack, **config)
    plaintexts = [TOKEN, API_KEY]
    resources: dict[str, dict] = {}
    for r in ev.resources:
        key = f"{r.type}::{r.name}"
        assert key not in resources, f"two resources named {key}"
        o = r.opts
        options = {
            # urn:pulumi:<stack>::<project>::<type chain>::<name>::<id> -> <type chain>::<name>
            "parent": o.parent, "provider": "::".join((r.provider or "").split("::")[2:4]),
            "dependsOn": sorted(o.depends_on), "ignoreChanges": list(o.ignore_changes),
            "replaceOnChanges": list(o.replace_on_changes), "deleteBeforeReplace": o.delete_before_replace,
            "customTimeouts": o.custom_timeouts, "protect": o.protect,
        }
        resources[key] = {
            "custom": r.custom,
            "inputs": _digest_long(redact(r.inputs, plaintexts, ev.computed)),
            "options": {k: v for k, v in options.items() if v not in ("", [], None, False)},
        }
    outputs = {k: "[secret]" if k in ev.secret_outputs else _digest_long(redact(v, plaintexts, ev.computed))
               for k, v in ev.outputs.items()}
    forecast, plan = _plan(ev, name, plaintexts)
    return {"resources": dict(sorted(resources.items())), "outputs": dict(sorted(outputs.items())),
            "forecast": forecast, "plan": plan}


def _plan(ev, name: str, plaintexts: list[str]) -> tuple[dict, list[str]]:
    """The forecast and the summary `make plan` prints for this evaluation (pod fit, cold start,
    prices and forecast included), as planner/__main__.py composes them."""
    from planner import fit, render, summary, validate
    from planner.__main__ import _scrub, one_line

    with tempfile.TemporaryDirectory() as out:
        objects, _ = render.write(ev, Path(out), plaintexts)
    problems = [p for obj in objects for p in validate.validate_object(obj)]
    fits, misfits = fit.check(objects, [{"type": r.type, "inputs": r.plain} for r in ev.gcp_resources()])
    warnings = [_scrub(one_line(w), plaintexts) for w in ev.warnings]
    settings = ev.result["s"]
    outlook = summary.forecast_report(settings)
    text = summary.render(ev, settings, name, f"build/plan/{name}", problems + misfits, warnings, len(objects),
                          outlook, fit.render(fits))
    return outlook, _scrub(text, plaintexts).splitlines()


def text(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Each leaf where the two documents differ, as `path: expected -> actual`."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for k in sorted(set(expected) | set(actual)):
            where = f"{path}/{k}" if path else k
            if k not in actual:
                found.append(f"{where}: gone (was {json.dumps(expected[k])[:120]})")
            elif k not in expected:
                found.append(f"{where}: new ({json.dumps(actual[k])[:120]})")
            else:
                found += differences(expected[k], actual[k], where)
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        # Item by item; an added or removed item (an env var, a port) is named with its position.
        common = min(len(expected), len(actual))
        found = [d for i in range(common) for d in differences(expected[i], actual[i], f"{path}[{i}]")]
        found += [f"{path}[{i}]: gone (was {json.dumps(expected[i])[:160]})" for i in range(common, len(expected))]
        found += [f"{path}[{i}]: new ({json.dumps(actual[i])[:160]})" for i in range(common, len(actual))]
        return found
    # By type too: True == 1 and False == 0 in Python, not in a manifest.
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path}: {json.dumps(expected)[:200]} -> {json.dumps(actual)[:200]}"]
    return []


def main(argv: list[str]) -> int:
    stacks = argv or list(STACKS)
    for stack in stacks:
        if stack not in STACKS:
            print(f"make golden: unknown stack {stack!r}; one of {', '.join(STACKS)}", file=sys.stderr)
            return 2
        path = GOLDEN / f"plan-{stack}.json"
        path.write_text(text(document(stack)))
        print(f"wrote {path.relative_to(ROOT)}")
    print("now read `git diff -- tests/golden` line by line: every change there is a change to what a stack deploys")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
