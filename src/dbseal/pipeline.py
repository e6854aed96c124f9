"""Overlap the stages of a stream (read, hash, decrypt, decompress, write) across threads.

The heavy work in each stage (file I/O, hashlib, Cobblestone, zstd) releases
the GIL, so stages on different threads really run in parallel. Queues are
bounded, so memory stays bounded. Errors travel downstream in order: the
consumer sees every item produced before the error, then the error itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Generic, TypeVar

T = TypeVar("T")
_END = object()
_POLL = 0.1


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def background(items: Iterable[T], depth: int = 4, name: str = "dbseal-stage") -> Iterator[T]:
    """Iterate ``items`` on a worker thread, ``depth`` items ahead of the consumer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if not _put(q, item, stop):
                    return
        except BaseException as exc:
            _put(q, _Failure(exc), stop)
            return
        _put(q, _END, stop)

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class ThreadedWriter(Generic[T]):
    """Hands pieces to consumer callables on their own threads (fan-out, order kept).

    ``close()`` waits for every consumer and re-raises the first error; after an
    error, ``write`` raises it too, so the producer stops early.
    """

    def __init__(self, consumers: list[Callable[[T], None]], depth: int = 8) -> None:
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in consumers]
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run, args=(c, q), daemon=True, name="dbseal-writer")
            for c, q in zip(consumers, self._queues, strict=True)
        ]
        for t in self._threads:
            t.start()

    def _run(self, consume: Callable[[T], None], q: queue.Queue[Any]) -> None:
        while True:
            item = q.get()
            if item is _END:
                return
            if self._error is not None:
                continue  # drain without work after a failure
            try:
                consume(item)
            except BaseException as exc:
                self._error = self._error or exc
                self._stop.set()

    def write(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        for q in self._queues:
            if not _put(q, item, self._stop) and self._error is not None:
                raise self._error

    def close(self) -> None:
        for q in self._queues:
            while True:
                try:
                    q.put(_END, timeout=_POLL)
                    break
                except queue.Full:
                    if self._error is not None:
                        with q.mutex:
                            q.queue.clear()
        for t in self._threads:
            t.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._stop.set()
        self._error = self._error or RuntimeError("aborted")
        with contextlib.suppress(BaseException):
            self.close()


class SyncingFile:
    """Writes to a file and flushes data to disk every ``every`` bytes (fdatasync),

    so the final fsync has little left to do.
    """

    def __init__(self, fh: BinaryIO, every: int = 64 << 20) -> None:
        self._fh, self._every, self._pending = fh, every, 0
        try:
            self._fd: int | None = fh.fileno()
            os.fstat(self._fd)
        except (OSError, ValueError, AttributeError):
            self._fd = None

    def write(self, data: bytes | memoryview) -> None:
        self._fh.write(data)
        self._pending += len(data)
        if self._fd is not None and self._pending >= self._every:
            self._fh.flush()
            try:
                os.fdatasync(self._fd)
            except OSError:
                self._fd = None  # a pipe or a device that cannot sync: stop trying
            self._pending = 0


class BackgroundHash:
    """SHA-256 computed on its own thread; ``digest()`` waits for it."""

    def __init__(self, depth: int = 16) -> None:
        self._h = hashlib.sha256()
        self._w: ThreadedWriter[bytes | memoryview] = ThreadedWriter([self._h.update], depth)
        self._digest: bytes | None = None

    def update(self, data: bytes | memoryview, /) -> None:
        self._w.write(data)

    def digest(self) -> bytes:
        if self._digest is None:
            self._w.close()
            self._digest = self._h.digest()
        return self._digest


class BackgroundWriter:
    """``write()`` hands data to a writer thread; ``close()`` waits and re-raises its errors."""

    def __init__(self, out: Any, depth: int = 8) -> None:
        self._w: ThreadedWriter[bytes] = ThreadedWriter([out.write], depth)

    def write(self, data: bytes, /) -> None:
        self._w.write(data)

    def close(self) -> None:
        self._w.close()

    def abort(self) -> None:
        self._w.abort()
