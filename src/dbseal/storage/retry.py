"""A wrapper that retries any backend's transient failures.

Only :class:`~dbseal.errors.StorageUnavailable` (timeouts, refused
connections, throttling, 5xx answers) is retried, with exponential backoff
and jitter; a missing object, an existing object, access denied or a bad
configuration fail at once. Retried: ``get``, ``stat``, ``list``, ``remove``,
``put``, ``prepare``, ``leftovers``, and the opening of ``open`` (not a read
that fails after bytes were handed to the caller: S3Backend resumes those
itself).

``writer`` is NOT retried: its caller streams an object of unknown length
straight from a producer (a database dump being sealed), and those bytes are
gone once written; replaying the block would mean running the dump again. A
backend keeps its own stream robust instead (S3Backend retries each part,
which it still holds in memory) and, when it gives up, the whole operation
fails and leaves nothing behind.

``put`` with ``overwrite=False`` is retried safely: if an earlier try failed
in transit but had in fact stored the object, the retry finds it existing;
the wrapper then reads it back and treats identical content as success.
"""

from __future__ import annotations

import builtins
import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

from dbseal.errors import ObjectExists, StorageError, StorageUnavailable
from dbseal.storage.backend import Backend, Handle, ObjectInfo

T = TypeVar("T")
RetryHook = Callable[[str, int, float, StorageError], None]


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may pass by itself, so the same call may be tried again."""
    return isinstance(exc, StorageUnavailable)


def backoff(attempt: int, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Delay before retry ``attempt`` (1-based): ``base * 2**(attempt-1)`` capped at ``cap``,
    with "equal jitter" (between half and all of it) so clients that failed together spread out."""
    delay: float = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + rng() * delay / 2


class RetryingBackend:
    """``inner`` with retries of transient failures; ``on_retry(op, attempt, delay, error)``
    is told before each wait (for a Reporter event)."""

    def __init__(
        self,
        inner: Backend,
        *,
        attempts: int = 4,
        base_delay: float = 1.0,
        max_delay: float = 20.0,
        on_retry: RetryHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.location = inner.location
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.on_retry, self._sleep, self._rng = on_retry, sleep, rng

    def _call(self, op: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except StorageUnavailable as exc:
                if attempt == self.attempts:
                    raise
                delay = backoff(attempt, self.base_delay, self.max_delay, self._rng)
                if self.on_retry is not None:
                    self.on_retry(op, attempt, delay, exc)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- not retried: see the module docstring ------------------------------------------

    def writer(
        self, handle: Handle, *, overwrite: bool = False
    ) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.inner.writer(handle, overwrite=overwrite)

    def clean_leftovers(self, min_age_s: float = 3600.0) -> int:
        return self.inner.clean_leftovers(min_age_s)

    # -- retried -----------------------------------------------------------------------

    def put(self, handle: Handle, data: bytes, *, overwrite: bool = False) -> None:
        failed_before = False

        def once() -> None:
            nonlocal failed_before
            try:
                self.inner.put(handle, data, overwrite=overwrite)
            except StorageUnavailable:
                failed_before = True
                raise
            except ObjectExists:
                # an earlier try may have stored it before its answer was lost
                if not failed_before or self._read_back(handle) != data:
                    raise

        self._call("put", once)

    def _read_back(self, handle: Handle) -> bytes | None:
        try:
            return self._call("get", lambda: self.inner.get(handle))
        except StorageError:
            return None

    @contextlib.contextmanager
    def open(self, handle: Handle, start: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        with contextlib.ExitStack() as stack:
            fh = self._call(
                "open", lambda: stack.enter_context(self.inner.open(handle, start, length))
            )
            yield fh  # failures inside the caller's block are not retried

    def get(self, handle: Handle) -> bytes:
        return self._call("get", lambda: self.inner.get(handle))

    def stat(self, handle: Handle) -> ObjectInfo | None:
        return self._call("stat", lambda: self.inner.stat(handle))

    def list(self, kind: str, prefix: str = "") -> builtins.list[str]:
        return self._call("list", lambda: self.inner.list(kind, prefix))

    def remove(self, handle: Handle) -> None:
        self._call("remove", lambda: self.inner.remove(handle))

    def prepare(self) -> None:
        self._call("prepare", self.inner.prepare)

    def leftovers(self) -> builtins.list[str]:
        return self._call("leftovers", self.inner.leftovers)
