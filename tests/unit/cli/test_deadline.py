"""The time limit of `dbseal check -t`: the signal path and the watchdog behind it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from dbseal.cli.deadline import Expired, deadline


def test_a_blocking_wait_is_interrupted_at_the_deadline() -> None:
    t0 = time.monotonic()
    with pytest.raises(Expired), deadline(0.5, lambda: None):
        time.sleep(30)
    assert 0.4 < time.monotonic() - t0 < 2


def test_no_deadline_and_a_finished_block_leave_no_timer_behind() -> None:
    with deadline(None, lambda: None):
        pass
    with deadline(0.3, lambda: None):
        pass
    time.sleep(0.5)  # an alarm left armed would raise here


def test_the_watchdog_ends_a_process_whose_main_thread_cannot_be_interrupted() -> None:
    # SIGALRM blocked: the signal never arrives, as when the main thread is stuck in C code
    code = textwrap.dedent(
        """
        import signal, time
        from dbseal.cli.check_commands import _stuck
        from dbseal.cli.deadline import deadline
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        with deadline(1, lambda: _stuck(True, 1), grace=0.5):
            time.sleep(30)
        """
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=20, check=False
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.decode().startswith("DBSEAL UNKNOWN - no result within 1s")
    assert time.monotonic() - t0 < 1 + 0.5 + 3  # start-up included


def test_an_outer_alarm_is_re_armed_afterwards() -> None:
    import signal

    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with deadline(0.2, lambda: None):
            pass
        assert fired == []
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0.5 < remaining <= 1.0
        time.sleep(1.2)
        assert fired == [1]  # the outer alarm still went off, with our handler gone
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
