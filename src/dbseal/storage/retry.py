"""The one retry policy of every backend, and a wrapper that applies it to any backend.

:class:`RetryPolicy` says how long a failing storage operation is tried again:
exponential backoff with "equal jitter" (``base_s * 2**(n-1)`` capped at
``cap_s``, between half and all of it) until a TOTAL TIME BUDGET
(``budget_s``) is spent. The budget runs from the start of the operation's
first failed attempt; no new attempt starts after it, so an operation fails at
the latest ``budget_s`` plus one attempt (``connect_timeout_s`` +
``read_timeout_s``) after things went wrong. The default budget (120 s) rides
out a minute of refused connections or 503 answers. Aborting an unfinished
upload gets its own short budget (``abort_budget_s``): a failed abort leaves
a leftover that ``dbseal repo check --clean`` removes.

A :class:`Retrier` applies a policy and tells its listeners about each retry
(op, attempt, delay, error) before it waits: the CLI turns those into
``storage.retry`` events. One retrier is shared by a backend and its wrapper,
so part uploads and download resumes inside a backend use the same policy.

Only :class:`~dbseal.errors.StorageUnavailable` (timeouts, refused or reset
connections, throttling, 5xx answers) is retried; a missing object, an
existing object, access denied or a bad configuration fail at once. Only
idempotent operations are retried.

:class:`RetryingBackend` retries ``get``, ``stat``, ``list``, ``remove``,
``put``, ``prepare``, ``leftovers`` and the opening of ``open``. It does not
replay ``writer`` blocks (their bytes come from a producer and are gone once
written): a backend keeps its own stream robust instead, retrying each part it
still holds in memory (S3 parts, receiver parts), and reads resume by offset.
``put`` with ``overwrite=False`` is retried safely: if an earlier try failed in
transit but had in fact stored the object, the retry finds it existing; the
wrapper then reads it back and treats identical content as success.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from dbseal.errors import ObjectExists, StorageError, StorageUnavailable, UsageError
from dbseal.storage.backend import Backend, Handle, ObjectInfo

T = TypeVar("T")
RetryHook = Callable[[str, int, float, StorageError], None]
BUDGET_ENV = "DBSEAL_RETRY_BUDGET"
TIMEOUT_ENV = "DBSEAL_STORAGE_TIMEOUT"
MAX_BUDGET_S = 3600.0


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may pass by itself, so the same call may be tried again."""
    return isinstance(exc, StorageUnavailable)


def backoff(attempt: int, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Delay before retry ``attempt`` (1-based): ``base * 2**(attempt-1)`` capped at ``cap``,
    with "equal jitter" (between half and all of it) so clients that failed together spread out."""
    delay: float = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + rng() * delay / 2


@dataclass(frozen=True)
class RetryPolicy:
    """How long storage operations are retried and how long one request may hang (seconds)."""

    budget_s: float = 120.0
    base_s: float = 0.5
    cap_s: float = 10.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    abort_budget_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.budget_s <= MAX_BUDGET_S or self.read_timeout_s <= 0:
            raise ValueError("retry budget or timeout out of range")

    @property
    def attempt_s(self) -> float:
        """The longest one attempt can hang before it fails (a black-holed network)."""
        return self.connect_timeout_s + self.read_timeout_s

    def failure_bound_s(self) -> float:
        """How long after an outage begins one operation (and its abort) has failed at the latest."""
        return self.budget_s + min(self.abort_budget_s, self.budget_s) + 2 * self.attempt_s

    @classmethod
    def from_settings(cls, budget: str | None = None, timeout: str | None = None) -> RetryPolicy:
        """A policy from ``?retry_budget=``/``?timeout=`` values, else the environment, else defaults."""
        budget = budget if budget is not None else os.environ.get(BUDGET_ENV)
        timeout = timeout if timeout is not None else os.environ.get(TIMEOUT_ENV)
        policy = cls()
        if budget is not None:
            policy = dataclasses.replace(policy, budget_s=_seconds(budget, "retry_budget", 0))
        if timeout is not None:
            t = _seconds(timeout, "timeout", 0.1)
            policy = dataclasses.replace(
                policy, read_timeout_s=t, connect_timeout_s=min(t, policy.connect_timeout_s)
            )
        return policy


def _seconds(text: str, name: str, low: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not low <= value <= MAX_BUDGET_S:
        raise UsageError(
            f"{name}={text!r} is not a number of seconds from {low:g} to {MAX_BUDGET_S:g}",
            hint=f"write e.g. ?{name}=90 in the repository URL, or set {BUDGET_ENV} / "
            f"{TIMEOUT_ENV} (see docs/design.md, 'Storage failures')",
        )
    return value


class Retrier:
    """Runs operations under a :class:`RetryPolicy`; counts retries and tells listeners."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep, self._clock, self._rng = sleep, clock, rng
        self._hooks: list[RetryHook] = []
        self._lock = threading.Lock()
        self._past: list[tuple[str, int, float, StorageError]] = []
        self.count = 0

    def listen(self, hook: RetryHook) -> None:
        """Call ``hook(op, attempt, delay, error)`` before each wait (from any thread).

        Retries that happened before (opening the repository, say) are told at once.
        """
        with self._lock:
            self._hooks.append(hook)
            past = list(self._past)
        for record in past:
            hook(*record)

    def call(self, op: str, fn: Callable[[], T], *, budget_s: float | None = None) -> T:
        """``fn()``, tried again on StorageUnavailable until the budget is spent."""
        budget = self.policy.budget_s if budget_s is None else budget_s
        attempt, first_failed = 0, None
        while True:
            started = self._clock()
            try:
                return fn()
            except StorageUnavailable as exc:
                first_failed = started if first_failed is None else first_failed
                attempt += 1
                delay = backoff(attempt, self.policy.base_s, self.policy.cap_s, self._rng)
                if self._clock() + delay > first_failed + budget:
                    raise
                self.wait(op, attempt, delay, exc)

    def abort(self, op: str, fn: Callable[[], T]) -> T:
        """``fn()`` with the short budget for aborting an unfinished upload."""
        return self.call(op, fn, budget_s=min(self.policy.abort_budget_s, self.policy.budget_s))

    def wait(self, op: str, attempt: int, delay: float, exc: StorageError) -> None:
        """Record retry ``attempt`` of ``op`` and sleep ``delay``."""
        with self._lock:
            self.count += 1
            hooks = list(self._hooks)
            if len(self._past) < 1000:
                self._past.append((op, attempt, delay, exc))
        for hook in hooks:
            hook(op, attempt, delay, exc)
        self._sleep(delay)


class RetryingBackend:
    """``inner`` with retries of transient failures (see the module docstring)."""

    def __init__(self, inner: Backend, retrier: Retrier | None = None) -> None:
        self.inner = inner
        self.location = inner.location
        self.retrier = retrier or Retrier()

    def _call(self, op: str, fn: Callable[[], T]) -> T:
        return self.retrier.call(op, fn)

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
