"""Tests evaluate the program under Pulumi's mocks, with config as the CLI passes it: Pulumi.yaml
defaults, then the stack file, then what the test sets (like `pulumi config set`). Each (stack,
config) is rendered once per process and shared (see `_EVALUATIONS`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner import harness, stack_config  # noqa: E402

# A distinctive fake token: if any byte of it shows up outside the Secret, a scan finds it.
TOKEN = "hf_TESTtokenDoNotLeak7f3a9c21"
PROJECT = "test-project"


# Evaluations of the whole program, by stack and config, for this process only: most tests render
# the same few stacks, and the Evaluation is only read. Keyed by process id and by mutmut's
# MUTANT_UNDER_TEST as well, so a forked mutation run never reuses what its parent rendered.
# A test that patches anything (the mocks, a module constant, the environment) renders afresh.
_EVALUATIONS: dict[tuple, harness.Evaluation] = {}
# In the environment, not a module variable: under mutmut's in-process pytest sessions this file can
# be loaded as two modules, and the fixture must reach whichever `evaluate` a test imported.
_AFRESH = "GKE_LLM_SERVING_TESTS_RENDER_AFRESH"


@pytest.fixture(autouse=True)
def _no_shared_evaluations_when_patching(request):
    if "monkeypatch" not in request.fixturenames:
        yield
        return
    os.environ[_AFRESH] = "1"
    try:
        yield
    finally:
        os.environ.pop(_AFRESH, None)


@pytest.fixture(autouse=True)
def _catalog_read_by_every_test():
    """The catalog's tables are read once per process (functools.cache). mutmut forks each mutant from
    the process whose stats run filled those caches: a mutant in the code that reads the CSV files
    would never run (a false survivor), and the stats would name only the first test that read them.
    So each test reads them itself; it costs milliseconds."""
    import catalog
    import catalog.nodes

    for module in (catalog, catalog.nodes):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    yield


def evaluate(stack: str = "dev", program=None, **config) -> harness.Evaluation:
    # mutmut's "stats" run records which tests call each function: every test must render for itself
    # there, or a mutant would be tried only against the first test that rendered its stack.
    if program is not None or os.environ.get(_AFRESH) or os.environ.get("MUTANT_UNDER_TEST") == "stats":
        return _evaluate(stack, program, **config)
    key = (os.getpid(), os.environ.get("MUTANT_UNDER_TEST"), stack, json.dumps(config, sort_keys=True, default=repr))
    if key not in _EVALUATIONS:
        _EVALUATIONS[key] = _evaluate(stack, None, **config)
    return _EVALUATIONS[key]


def _evaluate(stack: str, program, **config) -> harness.Evaluation:
    values = {"gcp:project": PROJECT, "hfToken": TOKEN}
    values.update(config)
    values = {k: v for k, v in values.items() if v is not None}  # None: leave the key unset
    resolved = stack_config.resolve(stack, values)
    for key in [k for k, v in config.items() if v is None]:
        resolved.values.pop(key if ":" in key else f"{resolved.project}:{key}", None)
    return harness.run(resolved, program)


def pytest_collection_modifyitems(config, items):
    """Under a mutant (make mutants), the literal pins first, then the whole-stack golden documents,
    then the rest: most mutants fail in the first group at once, and a refusal's text is not checked
    only after a dozen stacks rendered. Normal runs and mutmut's stats and clean runs keep pytest's order."""
    if os.environ.get("MUTANT_UNDER_TEST", "") in ("", "stats", "fail", "list_all_tests", "mutant_generation"):
        return
    items.sort(key=lambda item: 0 if "test_deploy_values" in item.nodeid else 1 if "test_golden_plans" in item.nodeid else 2)


@pytest.fixture
def llm():
    """Start stand-in OpenAI-compatible servers (tests/fake_llm.py) for a smoke test; all stopped after it."""
    import fake_llm

    servers = []

    def start(**behaviour) -> "fake_llm.FakeLLM":
        server = fake_llm.serve(fake_llm.Behaviour(**behaviour))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def deploy():
    return evaluate


def server(ev: harness.Evaluation) -> harness.Recorded:
    """The model server's Deployment (prod also has the metrics adapter's)."""
    found = [r for r in ev.of_type("kubernetes:apps/v1:Deployment") if r.plain["metadata"].get("name") == "llm"]
    assert len(found) == 1, [r.name for r in ev.of_type("kubernetes:apps/v1:Deployment")]
    return found[0]


def container(ev: harness.Evaluation) -> dict:
    return server(ev).plain["spec"]["template"]["spec"]["containers"][0]


def pod_spec(ev: harness.Evaluation) -> dict:
    return server(ev).plain["spec"]["template"]["spec"]


def secret_name(ev: harness.Evaluation) -> str:
    """The name the (mock) provider gave the auto-named token Secret."""
    return ev.one("kubernetes:core/v1:Secret").plain["metadata"].get("name") or next(
        name for name, label in ev.computed.items() if label == "<auto-name of Secret model-secret>")


def env_of(ev: harness.Evaluation) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(ev)["env"]}
