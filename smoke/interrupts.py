"""Ctrl-C and SIGTERM end a run the same way, and never by raising inside asyncio's own code.

A handler that raises KeyboardInterrupt wherever the main thread happens to be can land inside the
event loop's machinery (a selector call, a task-group callback of anyio under httpx). The loop is then
left inconsistent: seen on this machine under load, `asyncio.run`'s shutdown waited forever for a task
that could no longer finish, and a CI run exited 2 instead of 130. So while the loop runs, a signal
only cancels the main task, the way `asyncio.run` treats Ctrl-C itself (Lib/asyncio/runners.py,
Runner._on_sigint); the cancellation unwinds the coroutine through its `async with` blocks and the
run reports what it had done. A second signal stops at once, as a second Ctrl-C does there. Outside
the loop (options, stack outputs, the final cleanup) and inside smoke's own synchronous waits in the
loop (waiting for a port-forward to open), raising is safe: there the handler raises
KeyboardInterrupt as Python's default Ctrl-C does.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Awaitable, Callable, Iterator, Optional, TypeVar

T = TypeVar("T")

# The signals that end a run: Ctrl-C, and SIGTERM (a CI job cancelled, `timeout`, `kill`).
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_loop: Optional[asyncio.AbstractEventLoop] = None
_task: Optional[asyncio.Task] = None
_in_loop = False  # inside run(): asyncio's own code may be on the stack
_blocking = 0  # > 0 while smoke's own synchronous code blocks the loop
_signalled = False  # a signal arrived since install()


class Interrupted(Exception):
    """The run was stopped by a signal while the event loop ran."""


def _handle(signum, frame) -> None:
    global _signalled
    second, _signalled = _signalled, True
    if not _in_loop or _blocking or second:
        # Outside the loop, in smoke's own wait, or a second signal (stop now, as asyncio.run does
        # on a second Ctrl-C): raise here, as Python's default Ctrl-C does.
        raise KeyboardInterrupt
    if _task is not None and _loop is not None:
        _loop.call_soon_threadsafe(_task.cancel)  # runs between two steps of the loop
    # Otherwise the task has not started (cancellable() sees the signal on entry) or has ended.


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Handle SIGINT and SIGTERM for the duration; a signal the parent ignores stays ignored (a job
    started with `&` from a script ignores SIGINT). The previous handlers come back at the end."""
    global _signalled
    _signalled = False
    previous = {}
    for sig in SIGNALS:
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue
        previous[sig] = signal.signal(sig, _handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def blocking() -> Iterator[None]:
    """Smoke's own synchronous wait inside the loop: a signal raises KeyboardInterrupt there at once
    instead of waiting for the loop to run again (a port-forward may take seconds to open)."""
    global _blocking
    _blocking += 1
    try:
        yield
    finally:
        _blocking -= 1


def raise_if_signalled() -> None:
    """For smoke's own code after a step where a signal only scheduled the cancel (starting a child
    process outside `blocking()`, so that it is always recorded and can be stopped)."""
    if _signalled:
        raise KeyboardInterrupt


def run(work: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run` of `work()` as the task a signal cancels: `Interrupted` when one did."""
    global _in_loop
    _in_loop = True
    try:
        return asyncio.run(cancellable(work))
    finally:
        _in_loop = False


async def cancellable(work: Callable[[], Awaitable[T]]) -> T:
    """Await `work()` as the task a signal cancels; `Interrupted` when a signal did."""
    global _loop, _task
    if _signalled:  # arrived while asyncio.run was starting
        raise Interrupted()
    _loop, _task = asyncio.get_running_loop(), asyncio.current_task()
    try:
        return await work()
    except asyncio.CancelledError:
        if not _signalled:
            raise
        raise Interrupted() from None
    finally:
        _loop, _task = None, None


def signalled() -> bool:
    return _signalled
