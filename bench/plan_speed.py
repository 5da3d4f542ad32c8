"""Benchmark: warm `make plan` time beside the bare import time of pulumi, pulumi_gcp.container and
pulumi_kubernetes. Target: warm plan <= 1.5 x that import time.

"Warm" is a repeated `make plan` with nothing changed: it is answered from the plan's result cache
(planner/cache.py). The full evaluation (--no-cache: import the typed SDK classes, run the program
under mocks, render, validate) is printed beside it, since that is what any change costs.
Each figure is the median of several fresh interpreters after one warm-up run. Prints; asserts nothing.
Then the availability and cost forecast alone (catalog/forecast.py, in process): the stack's own
design as the plan runs it, and the designs `--compare` derives; target well under a second each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTS = "import pulumi, pulumi_gcp.container, pulumi_kubernetes"


def timed(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "planner", "--stack", args.stack, "--out", out]
        warm = timed(command, args.runs)
        full = timed(command + ["--no-cache"], args.runs)
    floor = timed([sys.executable, "-c", IMPORTS], args.runs)
    w, e, f = statistics.median(warm), statistics.median(full), statistics.median(floor)
    print(f"stack {args.stack}, {args.runs} runs each after a warm-up, median (min-max) seconds")
    print(f"  warm make plan (nothing changed)        {w:6.2f}  ({min(warm):.2f}-{max(warm):.2f})")
    print(f"  full evaluation (--no-cache)            {e:6.2f}  ({min(full):.2f}-{max(full):.2f})")
    print(f"  import pulumi, gcp.container, k8s       {f:6.2f}  ({min(floor):.2f}-{max(floor):.2f})")
    print(f"  warm plan / import time                 {w / f:6.2f}  (target <= 1.50: {'met' if w / f <= 1.5 else 'NOT met'})")
    print(f"  full evaluation / import time           {e / f:6.2f}")
    forecast_speed(args.stack, args.runs)


def forecast_speed(stack: str, runs: int) -> None:
    """The forecast's own time, in process: the design the plan forecasts, then every --compare row."""
    sys.path.insert(0, str(ROOT))
    from catalog import forecast as model
    from planner import harness, stack_config
    from planner.__main__ import PLACEHOLDERS

    config = stack_config.resolve(stack)
    for key, (value, _) in PLACEHOLDERS.items():
        config.values[key] = config.values.get(key) or value
    s = harness.run(config).result["s"]
    from settings import forecast as derive

    designs = {"the stack's design": derive.design(s), "Spot only": derive.design(s, ladder=("spot",)),
               "one more replica": derive.design(s, replicas=s.replicas + 1),
               "activeMigration on": derive.design(s, active_migration=True)}
    print(f"forecast of stack {stack}, {runs} runs each, median (max) seconds")
    for label, design in designs.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            result = model.forecast(design, s.forecast.assumptions)
            times.append(time.perf_counter() - start)
        m = statistics.median(times)
        print(f"  {label:<38} {m:6.3f}  ({max(times):.3f})  {result.method}  (target < 0.50: {'met' if m < 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
