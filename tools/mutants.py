"""`make mutants MODULE=components/operations/autoscaling.py`: mutation testing of one or more modules with
mutmut, running only the tests that exercise each module.

For each module named, in a scratch copy of the repository under build/mutants/<module>/ (so no
mutmut config sits in the repository and several modules can be tried one after another without
one run's cache confusing the next):
1. writes mutmut's [mutmut] section to the copy's setup.cfg: every Python package of the program
   is copied (the tests run the whole Pulumi program under mocks, tests/conftest.py), only the
   named module is mutated, and the test selection is the module's test files (TESTS below, or
   the files that import it);
2. runs `mutmut run`: mutmut records which of those tests call each function of the module, then
   runs, for each mutant, only the tests that call the mutated function, stopping at the first
   failure (killed);
3. prints killed / survived / other counts and the run time, and writes every surviving mutant's
   diff to build/mutants/<module>/survivors.txt and a one-line-per-module summary to
   build/mutants/summary.txt.

mutmut 3 mutates code inside functions and methods only: module-level constants and dataclass
defaults are not mutated (pin them with a literal test; tests/MUTANTS.md lists ours).
With --retest (make mutants RETEST=1) only the survivors of the module's last full run are run again,
against the current tests: after adding tests that is what can change (a mutant the old tests killed
stays killed while they are unchanged), in a fraction of the time. The module's source must be the
same as in that run (checked by its digest).
Exit status: 0 when every module ran (survivors are a report, not a failure), 2 on bad usage,
1 when mutmut itself failed.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutants"

# The program's packages and top-level modules: copied into the scratch tree and mutmut's
# mutants/ copy (the tests import them all through __main__.py), only the named module mutated.
SOURCES = ("__main__.py", "outputs.py", "catalog", "components", "planner", "settings", "smoke")
# Read by the tests at run time, copied as they are (test_smoke.py runs `make smoke`).
ALSO_COPY = ("pytest.ini", "Makefile", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.vllm.yaml", "Pulumi.global.yaml",
             "README.md", "docs", "requirements.txt", "requirements-dev.txt")
# Never selected: the checkov scan needs its own virtualenv and tests no Python module; the
# hypothesis property test takes about 33 s here, which every surviving mutant would pay again.
NEVER = {"tests/test_static_scan.py", "tests/test_properties.py"}

# The test files that exercise a module, directly or through the program. A file not listed here
# gets the test files that import it (by dotted name or `from package import module`) plus every
# tests/test_deploy_values_*.py; mutmut then narrows each mutant to the tests that call its function.
TESTS = {
    "components/operations/autoscaling.py": ["test_autoscaling.py", "test_scaling_program.py", "test_pod_monitoring_rules.py",
                                  "test_resilience.py", "test_deploy_values_scaling.py"],
    "components/operations/observability.py": ["test_observability.py", "test_scaling_program.py",
                                    "test_deploy_values_observability.py"],
    "components/operations/metrics_adapter.py": ["test_metrics_adapter.py", "test_scaling_program.py", "test_security.py",
                                      "test_deploy_values_scaling.py"],
    "components/platform/identity.py": ["test_metrics_adapter.py", "test_model_store.py", "test_deploy_values_scaling.py",
                                        "test_lifecycle.py"],
    "components/operations/server_metrics.py": ["test_autoscaling.py", "test_observability.py", "test_vllm.py",
                                     "test_deploy_values_observability.py"],
    "settings/scaling.py": ["test_settings.py", "test_scaling_program.py", "test_deploy_values_scaling.py"],
    "settings/names.py": ["test_settings.py", "test_security.py", "test_deploy_values_names.py"],
    "components/serving/engines/tgi.py": ["test_inference_server.py", "test_vllm.py", "test_image_streaming.py",
                                  "test_deploy_values_serving.py"],
    "components/serving/engines/vllm.py": ["test_inference_server.py", "test_vllm.py", "test_image_streaming.py",
                                   "test_deploy_values_serving.py"],
    "components/serving/model_store.py": ["test_model_store.py", "test_deploy_values_serving.py"],
    "components/serving/inference_server.py": ["test_inference_server.py", "test_resilience.py", "test_vllm.py",
                                       "test_deploy_values_serving.py"],
    "outputs.py": ["test_program.py", "test_security.py", "test_regions.py", "test_inference_server.py",
                   "test_vllm.py", "test_deploy_values_serving.py"],
    "settings/regions.py": ["test_regions.py", "test_deploy_values_regions.py"],
    "catalog/nodes.py": ["test_node_fit.py", "test_catalog.py", "test_deploy_values_nodes.py"],
    "planner/fit.py": ["test_node_fit.py", "test_plan.py", "test_deploy_values_nodes.py"],
    "components/platform/compute_class.py": ["test_compute_class.py", "test_image_streaming.py", "test_cell.py",
                                             "test_deploy_values_platform.py"],
    "components/platform/cluster.py": ["test_cluster.py", "test_lifecycle.py", "test_security.py", "test_cell.py",
                                       "test_deploy_values_platform.py"],
    "components/cell.py": ["test_cell.py", "test_program.py", "test_regions.py", "test_deploy_values_regions.py",
                           "test_deploy_values_serving.py"],
    "components/platform/fleet.py": ["test_regions.py", "test_deploy_values_regions.py"],
    "components/platform/gateway.py": ["test_regions.py", "test_deploy_values_regions.py"],
    "components/platform/registry.py": ["test_image_streaming.py", "test_deploy_values_platform.py",
                                        "test_deploy_values_serving.py"],
    "components/serving/model_secret.py": ["test_security.py", "test_program.py", "test_lifecycle.py"],
    "components/serving/model_loader.py": ["test_loader.py", "test_deploy_values_loader.py"],
    "settings/__init__.py": ["test_deploy_values_refusals.py", "test_settings.py", "test_regions.py", "test_forecast.py", "test_vllm.py",
                             "test_image_streaming.py", "test_deploy_values_names.py", "test_deploy_values_scaling.py",
                             "test_deploy_values_regions.py"],
    "settings/serving.py": ["test_deploy_values_refusals.py", "test_settings.py", "test_vllm.py", "test_catalog.py", "test_deploy_values_names.py"],
    "settings/reader.py": ["test_deploy_values_refusals.py", "test_settings.py", "test_regions.py", "test_forecast.py", "test_deploy_values_names.py",
                           "test_deploy_values_scaling.py", "test_deploy_values_settings.py"],
    "settings/forecast.py": ["test_forecast.py", "test_deploy_values_settings.py"],
    "catalog/__init__.py": ["test_catalog.py", "test_settings.py", "test_node_fit.py", "test_vllm.py",
                            "test_deploy_values_nodes.py", "test_deploy_values_catalog.py"],
    "catalog/loading.py": ["test_deploy_values_loading.py", "test_catalog.py", "test_image_streaming.py", "test_model_store.py"],
    "catalog/forecast.py": ["test_forecast.py", "test_regions.py", "test_deploy_values_settings.py"],
    # smoke/: end to end against a fake OpenAI-compatible server (tests/fake_llm.py), and its values.
    **{f"smoke/{m}.py": ["test_smoke.py", "test_deploy_values_smoke.py", "test_deploy_values_smoke_flow.py",
                         "test_deploy_values_smoke_client.py", "test_smoke_interrupts.py"]
       for m in ("__init__", "__main__", "client", "cost", "discovery", "interrupts", "load", "options", "report")},
}

# Modules the program ships as text (the loader's ConfigMap): mutmut rewrites the file in its copy, so
# the golden documents, which pin that text's digest, would fail its clean run; the program never runs it.
SHIPPED_AS_TEXT = {"components/serving/model_loader.py"}

STATUS = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


def usage(message: str) -> int:
    print(f"make mutants: {message}", file=sys.stderr)
    return 2


def module_of(path: str) -> str:
    return path[:-3].replace("/", ".")


def select_tests(path: str) -> list[str]:
    tests = ROOT / "tests"
    names = TESTS.get(path)
    if names is None:
        dotted = module_of(path)
        package, _, stem = dotted.rpartition(".")
        pattern = re.compile(rf"\b{re.escape(dotted)}\b|from {re.escape(package)} import [^\n]*\b{re.escape(stem)}\b"
                             if package else rf"\bimport {re.escape(stem)}\b|\bfrom {re.escape(stem)} import\b")
        names = sorted(p.name for p in tests.glob("test_*.py") if pattern.search(p.read_text()))
        names += sorted(p.name for p in tests.glob("test_deploy_values_*.py") if p.name not in names)
    if not path.startswith("smoke/") and path not in SHIPPED_AS_TEXT:
        # The whole rendered stacks against their reviewed documents: the last net for any value.
        names = [*names, "test_golden_plans.py"]
    chosen = [f"tests/{n}" for n in names if (tests / n).exists() and f"tests/{n}" not in NEVER]
    return chosen


def prepare(work: Path, path: str, tests: list[str], keep: tuple[str, ...] = ()) -> None:
    """A fresh scratch tree: results from an older source or test file must not be reused."""
    kept = {name: (work / name).read_bytes() for name in keep if (work / name).exists()}
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name, content in kept.items():
        (work / name).write_bytes(content)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES + ALSO_COPY + ("tests",):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, work / name)

    def listing(values) -> str:
        return "".join(f"\n    {v}" for v in values)

    (work / "setup.cfg").write_text(
        "# Written by tools/mutants.py for one run; see that file.\n"
        "[mutmut]\n"
        f"source_paths ={listing(s for s in SOURCES if (ROOT / s).exists())}\n"
        f"only_mutate ={listing([path])}\n"
        f"also_copy ={listing(a for a in ALSO_COPY if (ROOT / a).exists())}\n"
        f"pytest_add_cli_args_test_selection ={listing(tests)}\n"
        # No cache directory in the copy, no warning noise in the log.
        f"pytest_add_cli_args ={listing(['-p', 'no:cacheprovider', '-W', 'ignore::DeprecationWarning'])}\n"
        # The tests write nothing outside the tree; git's change detection has no repository here.
        "use_git_change_detection = false\n"
        # A mutant that makes a loop endless is stopped after 4x the CPU time its tests take unmutated
        # (mutmut's default, 30x plus 30 s, spent half an hour on one such mutant here).
        "timeout_multiplier = 2.0\n"
    )


def mutmut(work: Path, *args: str, log=None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "mutmut"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}
    return subprocess.run([str(exe), *args], cwd=work, env=env, text=True,
                          stdout=log if log else subprocess.PIPE, stderr=subprocess.STDOUT)


def has_functions(path: str) -> bool:
    tree = ast.parse((ROOT / path).read_text())
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(tree))


def source_digest(path: str) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()[:16]


def previous_survivors(work: Path, path: str) -> tuple[list[str], int] | str:
    """The mutants a full run left alive and how many it killed, or why a retest cannot use them."""
    try:
        text = (work / "survivors.txt").read_text()
    except OSError:
        return "no earlier run to retest; run it once without RETEST"
    head = re.match(r"# \S+: (\d+) not killed of (\d+) mutants", text)
    digest = re.search(r"^# source sha256 (\w+)$", text, re.M)
    if not head:
        return f"{work / 'survivors.txt'} is not a survivors list of tools/mutants.py"
    if digest and digest[1] != source_digest(path):
        return f"{path} changed since the full run: its mutants are not the same; run it without RETEST"
    names = re.findall(r"^# (\S+__mutmut_\d+): ", text, re.M)
    return names, int(head[2]) - int(head[1])


def run_module(path: str, children: int, retest: bool = False) -> tuple[str, dict[str, int], float] | None:
    slug = path[:-3].replace("/", "_")
    work = BUILD / slug
    tests = select_tests(path)
    if not tests:
        print(f"{path}: no test file exercises it; name some in TESTS in tools/mutants.py", file=sys.stderr)
        return None
    only: list[str] = []
    killed_before = 0
    if retest:
        previous = previous_survivors(work, path)
        if isinstance(previous, str):
            print(f"{path}: {previous}", file=sys.stderr)
            return None
        only, killed_before = previous
        if not only:
            print(f"{path}: the last run left no survivor to retest")
            return slug, {"killed": killed_before}, 0.0
    what = f"retesting {len(only)} survivors" if retest else "mutating"
    print(f"== {path}: {what} with {len(tests)} test files: {' '.join(t[6:] for t in tests)}", flush=True)
    prepare(work, path, tests, keep=("survivors.txt",) if retest else ())
    started = time.monotonic()
    with open(work / "mutmut.log", "w") as log:
        run = mutmut(work, "run", "--max-children", str(children), *only, log=log)
    seconds = time.monotonic() - started
    if run.returncode != 0:
        print(f"{path}: mutmut failed (exit {run.returncode}); see {(work / 'mutmut.log').relative_to(ROOT)}",
              file=sys.stderr)
        return None

    listing = mutmut(work, "results", "--all", "true")
    statuses: dict[str, str] = {}
    for line in listing.stdout.splitlines():
        m = STATUS.match(line)
        if m and (not only or m["name"] in only):
            statuses[m["name"]] = m["status"].strip()
    counts: dict[str, int] = {"killed": killed_before} if retest else {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1

    survivors = sorted(n for n, s in statuses.items() if s != "killed")
    total = sum(counts.values())
    with open(work / "survivors.txt", "w") as out:
        out.write(f"# {path}: {len(survivors)} not killed of {total} mutants; tests: {' '.join(tests)}\n"
                  f"# source sha256 {source_digest(path)}\n")
        for name in survivors:
            out.write(mutmut(work, "show", name).stdout.rstrip() + "\n\n")
    return slug, counts, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="+", help="source files to mutate, e.g. components/operations/autoscaling.py")
    parser.add_argument("--children", type=int, default=1,
                        help="mutants run in parallel (default 1: the tests are CPU-bound)")
    parser.add_argument("--retest", action="store_true",
                        help="run only the survivors of the last full run (after adding tests; the module unchanged)")
    args = parser.parse_args(argv)

    paths = []
    for raw in args.modules:
        path = Path(raw).as_posix().removeprefix("./")
        if not path.endswith(".py") or not (ROOT / path).is_file():
            return usage(f"{raw!r} is not a Python file of the repository (give e.g. MODULE=components/operations/autoscaling.py)")
        if path.split("/")[0] not in SOURCES and path not in SOURCES:
            return usage(f"{raw!r} is outside the program's sources ({', '.join(SOURCES)})")
        paths.append(path)

    BUILD.mkdir(parents=True, exist_ok=True)
    failed = False
    lines = []
    for path in paths:
        if not has_functions(path):
            # mutmut would stop with "no test case for any mutant": there is nothing it can mutate.
            line = (f"{path}: 0 mutants (no function or method; mutmut mutates only inside them, "
                    "so its values need literal tests)")
            print(line, flush=True)
            lines.append(line)
            continue
        result = run_module(path, args.children, args.retest)
        if result is None:
            failed = True
            continue
        slug, counts, seconds = result
        killed = counts.get("killed", 0)
        survived = counts.get("survived", 0)
        other = {k: v for k, v in counts.items() if k not in ("killed", "survived")}
        total = sum(counts.values())
        extra = "".join(f", {v} {k}" for k, v in sorted(other.items()))
        line = (f"{path}: {killed} killed, {survived} survived{extra} of {total} "
                f"({100 * killed / total if total else 0:.0f}% killed) in {seconds:.0f} s; "
                f"survivors in build/mutants/{slug}/survivors.txt")
        print(line, flush=True)
        lines.append(line)
    with open(BUILD / "summary.txt", "a") as summary:
        for line in lines:
            summary.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + line + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
