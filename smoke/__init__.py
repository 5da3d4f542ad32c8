"""`make smoke`: after `pulumi up`, prove the deployed model answers on its OpenAI-compatible API, and
measure time to first token, latency, output tokens per second and what that costs per million
output tokens on each tier of the stack's capacity ladder.

Modules by concern: `options` (command line, prompts), `discovery` (stack outputs, port-forward),
`client` (readiness, correctness checks, one streamed request), `load` (concurrency and figures),
`cost` (the stack's prices and the $/token arithmetic), `report` (table and JSON).
"""

from __future__ import annotations

# Exit statuses, a public interface (CI scripts test them).
EXIT_OK = 0
EXIT_WRONG = 1  # the endpoint answered wrongly, or requests failed during the load
EXIT_USAGE = 2  # bad options or configuration, or the endpoint cannot be reached at all
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: the shell convention (128 + SIGINT)


class SmokeError(Exception):
    """A failure reported as one line on stderr and an exit status, never as a traceback."""

    def __init__(self, message: str, code: int = EXIT_WRONG):
        super().__init__(message)
        self.message = " ".join(str(message).split())  # one line, whatever a server sent
        self.code = code
