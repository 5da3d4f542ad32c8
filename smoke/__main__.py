"""`python -m smoke` (what `make smoke` runs): readiness, correctness, a short streamed load, figures
and cost per tier. Exit status: 0 all good, 1 the endpoint answered wrongly or requests failed
during the load, 2 bad usage or configuration or the endpoint cannot be reached, 130 interrupted.
Every failure is one line on stderr."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Optional

from rich.console import Console

from smoke import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, EXIT_WRONG, SmokeError, client, cost, discovery, load, options
from smoke import interrupts, report
from smoke.client import RequestFailed

# Wide enough for the cost table in CI logs and pipes, where rich would otherwise assume 80 columns.
PLAIN_WIDTH = 110
# The Deployment the program creates (components/serving/inference_server.py), for the hints.
DEPLOYMENT = "llm"


@dataclass
class Target:
    url: str
    engine: Optional[str]
    namespace: Optional[str]
    before_poll: Optional[Callable[[], None]] = None
    forward: Optional[discovery.PortForward] = None
    from_stack: bool = False  # found from the stack outputs: the server is this project's Deployment

    @property
    def logs_hint(self) -> str:
        if not self.from_stack:  # --url: any server, maybe not on Kubernetes at all
            return "check the server's logs"
        ns = f"-n {self.namespace} " if self.namespace else ""
        return f"check the server's logs (kubectl {ns}logs deployment/{DEPLOYMENT})"


def find_target(opts: options.Options) -> Target:
    if opts.url:
        return Target(opts.url, opts.engine, None)
    outputs = discovery.stack_outputs(opts.stack)
    engine = opts.engine or outputs.engine
    service = discovery.cluster_ip_service(outputs.endpoint)
    if service is None:  # a load balancer address: reachable as it is
        return Target(outputs.endpoint, engine, outputs.namespace, from_stack=True)
    name, namespace, port = service
    forward = discovery.PortForward(name, namespace, port, outputs.cluster_name,
                                    discovery.kube_context(opts.stack, outputs.cluster_name))
    return Target(forward.url, engine, namespace, before_poll=forward.ensure, forward=forward, from_stack=True)


def snippet(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


class Run:
    """One smoke run; keeps what it learnt so far, for the JSON report even when it fails."""

    def __init__(self, opts: options.Options, ladder: cost.Ladder, target: Target, out: Console, err: Console):
        self.opts, self.ladder, self.target, self.out, self.err = opts, ladder, target, out, err
        self.api_key = os.environ.get("API_KEY") or None  # never printed, never in the report
        self.started_at = datetime.now(timezone.utc)
        self.model: Optional[str] = None
        self.checks: dict[str, str] = {}
        self.summary: Optional[load.Summary] = None
        self.waited_s: Optional[float] = None
        self.load_failure: Optional[str] = None
        # Where the run is, for what an interruption says: starting, readiness, checks, load, report.
        self.stage, self.stage_since = "starting", time.monotonic()
        self.progress = load.Progress()

    def _enter(self, stage: str) -> None:
        self.stage, self.stage_since = stage, time.monotonic()

    def _failed(self, check: str, e: RequestFailed) -> SmokeError:
        self.checks[check] = f"failed: {e.kind}"
        if e.kind == "auth":
            return client.auth_failure(int(e.detail.split()[-1]), self.api_key is not None)
        if e.kind == "connection":
            return SmokeError(f"{check} check: {e.detail}; check the URL (--url) and that the server runs",
                              EXIT_USAGE)
        if e.kind == "http_404":
            # The route is missing: most often a URL with a path the server does not serve.
            return SmokeError(f"{check} check failed: {e.detail}; the server has no /v1/completions under "
                              f"{options.display_url(self.target.url)}: --url must be the server's root "
                              "(smoke adds /health and /v1/...)", EXIT_WRONG)
        hint = ("raise --timeout, or " if e.kind == "timeout" else "") + self.target.logs_hint
        return SmokeError(f"{check} check failed: {e.detail}; {hint}", EXIT_WRONG)

    def interrupted(self) -> str:
        """The failure line for Ctrl-C or SIGTERM, saying what had been done."""
        elapsed = time.monotonic() - self.stage_since
        if self.stage == "readiness":
            return f"interrupted while waiting for /health ({elapsed:.0f} s); nothing was sent to the model"
        if self.stage == "checks":
            return "interrupted during the correctness checks; no load was sent"
        if self.stage == "load":
            p = self.progress
            self.summary = load.summarize(p.results, p.wall_s(), in_flight=p.sent - len(p.results))
            return (f"interrupted during the load: {len(p.results)} of {self.opts.requests} requests answered, "
                    f"{p.sent - len(p.results)} in flight; the load stopped where it was")
        return "interrupted"

    async def execute(self) -> int:
        o, out = self.opts, self.out
        engine = f", engine {self.target.engine}" if self.target.engine else ""
        out.print(f"Smoke test of {options.display_url(self.target.url)} (stack {o.stack}{engine})")
        async with client.new_client(self.target.url, self.api_key, o.timeout_s, o.concurrency) as http:
            self._enter("readiness")
            with report.Activity(self.err, "waiting for /health") as activity:
                ready = await client.wait_ready(http, o.wait_s, activity.status, self.target.before_poll,
                                                self.api_key is not None, self.target.logs_hint + ", ")
            self.waited_s = ready.waited_s
            out.print(f"  ready        {ready.status} after {ready.waited_s:.1f} s")

            self._enter("checks")
            listing = None
            if not o.model:
                try:
                    listing = await client.served_model(http)
                except RequestFailed as e:
                    raise self._failed("models", e) from None
            served = listing.model if listing else None
            path_listed = served is not None and served.startswith("/")
            if path_listed:
                # TGI lists MODEL_ID, a directory in bucket mode ("/models"), and answers any name
                # (router/src/server.rs@v3.3.7): the model's own id reads better in the report.
                served = None
            self.model = o.model or served or self.ladder.model
            source = ("--model" if o.model else "/v1/models" if served
                      else f"stack {o.stack} config; /v1/models lists the path {listing.model}" if path_listed
                      else f"stack {o.stack} config; /v1/models: {listing.problem if listing else 'not asked'}")
            # One line in a CI log whatever the width: a long model id or /v1/models problem would
            # otherwise be wrapped at PLAIN_WIDTH, splitting what a job greps for.
            out.print(f"  model        {self.model} (from {source})", soft_wrap=True)

            try:
                answer = await client.check_completion(http, self.model, o.prompts[0], o.max_tokens, o.timeout_s)
            except RequestFailed as e:
                raise self._failed("completions", e) from None
            self.checks["completions"] = "ok"
            out.print(f"  completions  ok in {answer.seconds:.2f} s: {snippet(answer.text)}")
            try:
                chat = await client.check_chat(http, self.model, o.max_tokens, o.timeout_s)
            except RequestFailed as e:
                raise self._failed("chat", e) from None
            self.checks["chat"] = "ok" if chat else "skipped (404)"
            out.print(f"  chat         ok in {chat.seconds:.2f} s: {snippet(chat.text)}" if chat
                      else "  chat         skipped (404: the server does not serve /v1/chat/completions)")
            stream = await client.check_stream(http, self.model, o.prompts[0], o.max_tokens, o.timeout_s)
            if not stream.result.ok:
                raise self._failed("stream", RequestFailed(stream.result.error or "error", stream.result.detail))
            counted = ("by the server (usage)" if stream.result.tokens_from == "usage"
                       else "from the chunks (no usage sent)")
            if stream.refused is not None:
                counted = f"from the chunks (stream_options refused: {stream.refused})"
            self.checks["stream"] = "ok" if stream.refused is None else "ok without stream_options"
            # The refusal quotes the server's reply (up to 200 characters): one line, as above.
            out.print(f"  stream       ok in {stream.result.latency_s:.2f} s, tokens counted {counted}", soft_wrap=True)

            self._enter("load")
            with report.Activity(self.err, "load", total=o.requests) as activity:
                results, wall_s = await load.run_load(http, self.model, o.prompts, o.requests, o.concurrency,
                                                      o.max_tokens, o.timeout_s, lambda _: activity.advance(),
                                                      usage=stream.usage, progress=self.progress)
        self._enter("report")
        self.summary = s = load.summarize(results, wall_s)

        out.print()
        out.print(report.figures_heading(s, o.concurrency, o.max_tokens))
        note = report.context_note(o.max_tokens, listing.max_model_len if listing else None)
        if note:
            out.print(note)
        if s.errors:
            first = next(iter(s.error_details.items()))
            self.load_failure = (f"{s.requests - s.succeeded} of {s.requests} load requests failed "
                                 f"({report.errors_text(s.errors)}; first {first[0]}: {first[1]}); "
                                 + ("raise --timeout or lower --concurrency, or " if "timeout" in s.errors else "")
                                 + self.target.logs_hint)
            out.print(report.figures_table(s, withheld=True))
            out.print("  figures and cost withheld: with failed requests in it, a load's timings are the "
                      "survivors' and its rate counts the failures' time", soft_wrap=True)
            return EXIT_WRONG
        out.print(report.figures_table(s))
        counted_from = {"usage": "the server's usage counts", "chunks": "streamed chunks (one token each)"}
        out.print(f"  {s.output_tokens:,} output tokens in {s.wall_s:.1f} s, counted from "
                  f"{counted_from.get(s.tokens_from or '', s.tokens_from or 'nothing')}; "
                  f"longest answer {s.longest_output} of {o.max_tokens} asked", soft_wrap=True)
        note = report.burst_note(s)
        if note:
            out.print(note, soft_wrap=True)  # one line in a CI log, whatever the width
        out.print()
        out.print(report.cost_heading(self.ladder, s.output_tokens_per_s))
        out.print(report.cost_table(self.ladder, self.ladder.costs(s.output_tokens_per_s)))
        out.print("  GPU nodes only (system pool and control plane extra); assumes the endpoint serves this stack")
        return EXIT_OK

    def json_report(self, failure: Optional[str]) -> dict:
        return report.build(url=options.display_url(self.target.url), stack=self.opts.stack,
                            engine=self.target.engine, model=self.model, concurrency=self.opts.concurrency,
                            max_tokens=self.opts.max_tokens, started_at=self.started_at, ladder=self.ladder,
                            checks=self.checks, summary=self.summary, failure=failure, waited_s=self.waited_s)


def main(argv: Optional[list[str]] = None) -> int:
    out = Console(highlight=False, markup=False)
    err = Console(stderr=True, highlight=False, markup=False)
    for console in (out, err):
        if not console.is_terminal:
            console.width = PLAIN_WIDTH
    run: Optional[Run] = None
    target: Optional[Target] = None
    code, failure = EXIT_OK, None
    # Ctrl-C and SIGTERM (a CI job cancelled, `timeout`) take one path: the port-forward child is
    # stopped and the run ends with one line saying what had been done (smoke/interrupts.py).
    with interrupts.installed():
        try:
            opts = options.parse(argv)
            ladder = cost.ladder_from_stack(opts.stack, opts.replicas)  # bad config stops before any request
            target = find_target(opts)
            run = Run(opts, ladder, target, out, err)
            code = interrupts.run(run.execute)
            failure = run.load_failure
        except SmokeError as e:
            code, failure = e.code, e.message
        except (KeyboardInterrupt, interrupts.Interrupted):
            code, failure = EXIT_INTERRUPTED, run.interrupted() if run is not None else "interrupted"
        except Exception as e:  # a bug: still one line, unless asked for the traceback
            if os.environ.get("SMOKE_DEBUG"):
                raise
            code, failure = EXIT_USAGE, f"unexpected {e.__class__.__name__}: {e} (SMOKE_DEBUG=1 shows the traceback)"
        finally:
            if target is not None and target.forward is not None:
                try:
                    target.forward.close()
                except KeyboardInterrupt:  # a second Ctrl-C while kubectl stops: it has its SIGTERM
                    pass
    if run is not None and run.opts.json_path is not None:
        try:
            report.write_json(run.opts.json_path, options.redact(run.json_report(failure), run.opts.url))
        except SmokeError as e:
            code, failure = code or e.code, failure or e.message
    if failure:
        # A password in --url never reaches the screen, whatever a library put in a message.
        print(f"smoke: {options.redact(failure, run.opts.url if run else None)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
