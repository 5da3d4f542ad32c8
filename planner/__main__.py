"""`make plan`: evaluate the program for a stack under Pulumi's mocks, write and validate what it
would deploy, and print a summary.

Exit status: 0 valid, 1 a rendered object fails validation, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

from planner import cache, stack_config

# The SDKs, the program and the validators are imported only when the plan really runs (not on a
# cache hit): importing them is most of the plan's time.

PLACEHOLDERS = {
    # key: (value used for the plan, warning)
    "gke-llm-serving:hfToken": ("plan-placeholder-token",
                                "hfToken is not set; `pulumi up` will stop until you run: pulumi config set --secret hfToken <token>"),
    "gcp:project": ("your-gcp-project", "gcp:project is not set; the plan uses your-gcp-project. Run: pulumi config set gcp:project <project>"),
}


def one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--out", default=None, help="output directory (default build/plan/<stack>)")
    parser.add_argument("--stack-dir", default=None, help="directory of Pulumi.yaml and the stack files (default: the project)")
    parser.add_argument("--no-cache", action="store_true", help="evaluate even when nothing changed")
    parser.add_argument("--compare", action="store_true",
                        help="print the stack's availability and cost forecast beside derived alternatives, and stop")
    args = parser.parse_args(argv)
    out_dir = Path(args.out) if args.out else stack_config.ROOT / "build" / "plan" / args.stack
    stack_dir = Path(args.stack_dir) if args.stack_dir else stack_config.ROOT

    try:
        config = stack_config.resolve(args.stack, root=stack_dir)
    except stack_config.StackConfigError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2

    if args.compare:
        return compare(args.stack, config)

    # No cache when a secret sits in clear in a stack file: its key would be a digest of the secret.
    use_cache = not args.no_cache and not config.plaintext_secrets
    cache_key = cache.key([args.stack, str(out_dir.resolve())], stack_dir) if use_cache else ""
    hit = cache.lookup(out_dir, cache_key) if use_cache else None
    if hit:
        sys.stdout.write(hit["stdout"])
        sys.stderr.write(hit["stderr"])
        return hit["code"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = plan(args.stack, config, out_dir)
    sys.stdout.write(stdout.getvalue())
    sys.stderr.write(stderr.getvalue())
    if use_cache:
        cache.store(out_dir, cache_key, code, stdout.getvalue(), stderr.getvalue())
    return code


def plan(stack: str, config: stack_config.ResolvedConfig, out_dir: Path) -> int:
    from planner import fit, render, summary, validate

    warnings: list[str] = []
    for key, (value, warning) in PLACEHOLDERS.items():
        if not config.values.get(key):
            config.values[key] = value
            warnings.append(warning)
    for key in config.plaintext_secrets:
        warnings.append(f"{key} is in plaintext in Pulumi.{stack}.yaml: remove it and run pulumi config set --secret {key.split(':')[-1]} <value>")
    ev, plaintexts = _evaluate(config)
    if ev is None:
        return 2

    objects, _ = render.write(ev, out_dir, plaintexts)
    problems = [p for obj in objects for p in validate.validate_object(obj)]
    fits, misfits = fit.check(objects, [{"type": r.type, "inputs": r.plain} for r in ev.gcp_resources()])
    problems += misfits
    warnings += [_scrub(one_line(w), plaintexts) for w in ev.warnings]
    settings = ev.result["s"]
    outlook = summary.forecast_report(settings)
    (out_dir / "forecast.json").write_text(json.dumps(outlook, indent=2) + "\n")
    print(_scrub(summary.render(ev, settings, stack, _relative(out_dir), problems, warnings, len(objects), outlook, fit.render(fits)), plaintexts))
    return 1 if problems else 0


def compare(stack: str, config: stack_config.ResolvedConfig) -> int:
    """`--compare`: the forecast of the stack beside alternatives derived from it (one screen)."""
    from planner import summary

    for key, (value, _) in PLACEHOLDERS.items():
        config.values[key] = config.values.get(key) or value
    ev, _ = _evaluate(config)
    if ev is None:
        return 2
    print(summary.compare(ev.result["s"], stack))
    return 0


def _evaluate(config: stack_config.ResolvedConfig):
    """(the program's evaluation, or None after printing the config error on one line; the secret
    values known in clear, to scrub wherever they might surface)."""
    import pulumi

    from planner import harness

    plaintexts = [config.values[k] for k in config.secret_keys | {"gke-llm-serving:apiKey"} if config.values.get(k)]
    try:
        return harness.run(config), plaintexts
    except pulumi.RunError as e:
        print(f"error: {_scrub(one_line(e), plaintexts)}", file=sys.stderr)
        return None, plaintexts


def _scrub(text: str, plaintexts: list[str]) -> str:
    from planner.render import SECRET_MARKER

    for secret in plaintexts:
        text = text.replace(secret, SECRET_MARKER)
    return text


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
