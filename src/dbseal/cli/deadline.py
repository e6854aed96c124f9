"""A real time limit for a command (`dbseal check -t`): SIGALRM, with a hard backstop.

At ``seconds`` a SIGALRM interrupts whatever the main thread waits on (a socket
read, a sleep between retries) with :class:`Expired`, which no ``except
Exception`` catches, so the command reports its own timeout and cleans up. If
the main thread cannot be interrupted (stuck inside C code), ``on_stuck`` runs
from a watchdog thread ``grace`` seconds later; it must end the process
(``os._exit``).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


class Expired(BaseException):
    """The time limit passed (a BaseException: no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def deadline(
    seconds: float | None, on_stuck: Callable[[], None], grace: float = 2.0
) -> Iterator[None]:
    if seconds is None:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Expired

    previous = signal.signal(signal.SIGALRM, expire)
    watchdog = threading.Timer(seconds + grace, on_stuck)
    watchdog.daemon = True
    t0 = time.monotonic()
    outer, _interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    watchdog.start()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        watchdog.cancel()
        if outer:  # someone else's alarm was armed (a test runner's timeout): re-arm it
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - t0), 0.001))
