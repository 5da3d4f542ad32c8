"""smoke/interrupts.py: how Ctrl-C and SIGTERM stop a run. While the event loop runs, a signal must
only cancel the main task, never raise where the main thread happens to be: a KeyboardInterrupt
raised inside asyncio's own code once left `asyncio.run` waiting forever at shutdown (a CI run
exited 2, and a stress run of 150 SIGTERMs under load hung). Each test sends a real signal to this
process with os.kill."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from smoke import interrupts


def send(sig: int = signal.SIGTERM) -> None:
    os.kill(os.getpid(), sig)


@pytest.fixture(autouse=True)
def _a_stray_sigterm_does_not_end_the_session():
    # Each test signals this very process: should interrupts.installed() ever fail to take over,
    # SIGTERM's default action would end the whole test run instead of failing this test.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    yield
    signal.signal(signal.SIGTERM, previous)


def loop_run(work):
    """`work` run as smoke runs its coroutine. A KeyboardInterrupt escaping the loop is this test's
    failure: left alone, pytest would take it for Ctrl-C and stop the whole session."""
    try:
        return interrupts.run(work)
    except KeyboardInterrupt:
        raise AssertionError("the signal raised KeyboardInterrupt while the loop ran") from None


def test_a_signal_while_the_loop_runs_cancels_the_task_and_is_reported_as_interrupted():
    after_the_signal = []

    async def work():
        send()
        after_the_signal.append("went on")  # the handler did not raise here, inside the task's code
        await asyncio.sleep(30)
        after_the_signal.append("slept")  # never: the sleep is cancelled

    with interrupts.installed():
        with pytest.raises(interrupts.Interrupted):
            loop_run(work)
        assert interrupts.signalled() is True
    assert after_the_signal == ["went on"]


def test_ctrl_c_while_the_loop_runs_takes_the_same_path_as_sigterm():
    async def work():
        send(signal.SIGINT)
        await asyncio.sleep(30)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with interrupts.installed():
            with pytest.raises(interrupts.Interrupted):
                loop_run(work)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_result_comes_back_when_no_signal_arrives():
    async def work():
        await asyncio.sleep(0)
        return 7

    with interrupts.installed():
        assert loop_run(work) == 7
        assert interrupts.signalled() is False


def test_a_cancellation_no_signal_asked_for_stays_a_cancellation():
    async def work():
        asyncio.current_task().cancel()
        await asyncio.sleep(30)

    with interrupts.installed():
        with pytest.raises(asyncio.CancelledError):
            loop_run(work)


def test_inside_smokes_own_blocking_wait_the_signal_raises_at_once():
    # A port-forward may take up to 20 s to open, in the loop: waiting for the loop would make a
    # Ctrl-C wait that long.
    reached = []

    async def work():
        with interrupts.blocking():
            try:
                send()
                reached.append("went on")  # never: send() raised
            except KeyboardInterrupt:
                reached.append("raised")

    with interrupts.installed():
        loop_run(work)
    assert reached == ["raised"]


def test_after_a_blocking_wait_the_loop_path_comes_back():
    async def work():
        with interrupts.blocking():
            pass
        send()
        await asyncio.sleep(30)

    with interrupts.installed():
        with pytest.raises(interrupts.Interrupted):
            loop_run(work)


def test_outside_the_loop_a_signal_raises_keyboard_interrupt_as_ctrl_c_does():
    with interrupts.installed():
        with pytest.raises(KeyboardInterrupt):
            send()
    # After a run in the loop, the loop path is closed again.
    async def work():
        return None

    with interrupts.installed():
        loop_run(work)
        with pytest.raises(KeyboardInterrupt):
            send()


def test_the_previous_handlers_come_back_and_an_ignored_sigint_stays_ignored():
    def mine(signum, frame):
        pass

    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a job started with `&`
    previous_term = signal.signal(signal.SIGTERM, mine)
    try:
        with interrupts.installed():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is interrupts._handle
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def test_a_new_run_starts_unsignalled():
    with interrupts.installed():
        with pytest.raises(KeyboardInterrupt):
            send()
        assert interrupts.signalled() is True
    with interrupts.installed():
        assert interrupts.signalled() is False


def test_a_second_signal_while_the_loop_runs_stops_at_once():
    # As a second Ctrl-C does under asyncio.run: for a run stuck while it unwinds.
    reached = []

    async def work():
        send()
        try:
            send()
            reached.append("went on")
        except KeyboardInterrupt:
            reached.append("raised")
        await asyncio.sleep(30)  # the first signal's cancel lands here

    with interrupts.installed():
        with pytest.raises(interrupts.Interrupted):
            loop_run(work)
    assert reached == ["raised"]


def test_a_signal_before_the_task_starts_ends_the_run_before_any_work():
    ran = []

    async def work():
        ran.append("work")

    with interrupts.installed():
        with pytest.raises(KeyboardInterrupt):
            send()  # outside the loop, e.g. while asyncio.run was starting
        with pytest.raises(interrupts.Interrupted):
            loop_run(work)
    assert ran == []


def test_smokes_own_step_sees_a_signal_that_only_scheduled_the_cancel():
    # The port-forward's child is started outside blocking(): a signal there schedules the cancel,
    # and the wait that follows raises at once instead of waiting for the port.
    reached = []

    async def work():
        interrupts.raise_if_signalled()  # nothing yet
        send()
        reached.append("scheduled")
        with interrupts.blocking():
            try:
                interrupts.raise_if_signalled()
            except KeyboardInterrupt:
                reached.append("raised")
        await asyncio.sleep(30)

    with interrupts.installed():
        with pytest.raises(interrupts.Interrupted):  # the cancel scheduled by the signal still lands
            loop_run(work)
    assert reached == ["scheduled", "raised"]
