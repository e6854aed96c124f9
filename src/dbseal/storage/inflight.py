"""One job in flight on a worker thread while the caller prepares the next (part uploads)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    """At most one pending job; its failure is raised by :meth:`wait`. The thread is made on
    first use and ended by :meth:`close` or :meth:`drop`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pending: Future[T] | None = None
        self._worker: ThreadPoolExecutor | None = None

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def submit(self, fn: Callable[[], T]) -> None:
        """Start ``fn`` (call :meth:`wait` first: one job at a time)."""
        assert self._pending is None, "wait() for the job in flight first"
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        self._pending = self._worker.submit(fn)

    def wait(self) -> T | None:
        """The result of the job in flight (None when there is none); raises its failure."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def drop(self) -> None:
        """Cancel or wait out the job in flight, ignoring its failure, and end the thread."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(Exception):  # the caller is giving up anyway
                pending.result()
        self.close()

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)
