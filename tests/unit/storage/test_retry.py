"""The retrying wrapper: which failures it retries, how long it waits, and put's idempotency.

The backend underneath is a real LocalBackend; a thin wrapper makes chosen calls fail
the way a network does (before or after the operation took effect).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from dbseal.errors import (
    ObjectExists,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    UsageError,
)
from dbseal.storage import Handle, LocalBackend
from dbseal.storage.retry import Retrier, RetryingBackend, RetryPolicy, backoff, is_transient

H = Handle("manifest", "m.json")


class Faults:
    """LocalBackend whose next ``n`` calls of an operation fail with StorageUnavailable,
    either before (``lost=False``) or after (``lost=True``: the answer was lost) the call."""

    def __init__(self, root: Path) -> None:
        self.inner = LocalBackend(str(root))
        self.inner.prepare()
        self.location = self.inner.location
        self.plan: dict[str, tuple[int, bool]] = {}
        self.calls: dict[str, int] = {}

    def fail(self, op: str, n: int, *, lost: bool = False) -> None:
        self.plan[op] = (n, lost)

    def _do(self, op: str, fn: Callable[[], Any]) -> Any:
        self.calls[op] = self.calls.get(op, 0) + 1
        n, lost = self.plan.get(op, (0, False))
        if n:
            self.plan[op] = (n - 1, lost)
            if lost:
                fn()
            raise StorageUnavailable(f"{op}: connection reset")
        return fn()

    def put(self, handle: Handle, data: bytes, *, overwrite: bool = False) -> None:
        self._do("put", lambda: self.inner.put(handle, data, overwrite=overwrite))

    def get(self, handle: Handle) -> bytes:
        return bytes(self._do("get", lambda: self.inner.get(handle)))

    def stat(self, handle: Handle) -> Any:
        return self._do("stat", lambda: self.inner.stat(handle))

    def list(self, kind: str, prefix: str = "") -> list[str]:
        return list(self._do("list", lambda: self.inner.list(kind, prefix)))

    def remove(self, handle: Handle) -> None:
        self._do("remove", lambda: self.inner.remove(handle))

    def prepare(self) -> None:
        self._do("prepare", self.inner.prepare)

    def leftovers(self) -> list[str]:
        return list(self._do("leftovers", self.inner.leftovers))

    def clean_leftovers(self) -> int:
        return int(self._do("clean_leftovers", self.inner.clean_leftovers))

    @contextlib.contextmanager
    def open(self, handle: Handle, start: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        self._do("open", lambda: None)
        with self.inner.open(handle, start, length) as fh:
            yield fh

    @contextlib.contextmanager
    def writer(self, handle: Handle, *, overwrite: bool = False) -> Iterator[BinaryIO]:
        self._do("writer", lambda: None)
        with self.inner.writer(handle, overwrite=overwrite) as fh:
            yield fh


@pytest.fixture
def faults(tmp_path: Path) -> Faults:
    return Faults(tmp_path / "repo")


class Clock:
    """Time that passes only when the retrier sleeps."""

    def __init__(self, waits: list[float]) -> None:
        self.now, self.waits = 0.0, waits

    def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.now += s


def retrier(waits: list[float], budget: float = 120.0, rng: float = 1.0, **kw: Any) -> Retrier:
    clock = Clock(waits)
    policy = RetryPolicy(budget_s=budget, base_s=1.0, cap_s=20.0, **kw)
    return Retrier(policy, sleep=clock.sleep, clock=lambda: clock.now, rng=lambda: rng)


def wrap(inner: Any, waits: list[float], budget: float = 120.0) -> RetryingBackend:
    return RetryingBackend(inner, retrier(waits, budget))


def test_transient_failures_are_retried_with_growing_waits(faults: Faults) -> None:
    faults.inner.put(H, b"{}")
    waits: list[float] = []
    b = wrap(faults, waits)
    for op, call in [
        ("get", lambda: b.get(H)),
        ("stat", lambda: b.stat(H)),
        ("list", lambda: b.list("manifest")),
        ("leftovers", b.leftovers),
        ("prepare", b.prepare),
    ]:
        waits.clear()
        faults.fail(op, 3)
        call()
        assert waits == [1.0, 2.0, 4.0], op
    faults.fail("remove", 1)
    b.remove(H)
    assert faults.inner.stat(H) is None


def test_it_gives_up_when_the_time_budget_is_spent(faults: Faults) -> None:
    waits: list[float] = []
    faults.fail("list", 99)
    with pytest.raises(StorageUnavailable):
        wrap(faults, waits, budget=10.0).list("data")
    assert waits == [1.0, 2.0, 4.0] and faults.calls["list"] == 4  # 7 s waited, 8 more > 10
    waits.clear()
    faults.fail("list", 99)
    with pytest.raises(StorageUnavailable):
        wrap(faults, waits, budget=120.0).list("data")
    assert sum(waits) <= 120.0 and max(waits) == 20.0  # capped, and rides out 60 s and more
    assert sum(waits) > 60.0


def test_other_failures_are_not_retried(faults: Faults) -> None:
    waits: list[float] = []
    b = wrap(faults, waits)
    with pytest.raises(ObjectNotFound):
        b.get(Handle("data", "nope"))
    b.put(H, b"one")
    with pytest.raises(ObjectExists):
        b.put(H, b"two")
    assert waits == [] and faults.calls["put"] == 2


def test_a_put_whose_answer_was_lost_is_not_a_collision(faults: Faults) -> None:
    waits: list[float] = []
    faults.fail("put", 1, lost=True)  # stored, then the connection broke
    wrap(faults, waits).put(H, b"mine")
    assert faults.inner.get(H) == b"mine" and len(waits) == 1


def test_a_real_collision_after_a_lost_answer_is_still_reported(faults: Faults) -> None:
    faults.inner.put(H, b"someone else's")
    faults.fail("put", 1)
    with pytest.raises(ObjectExists):
        wrap(faults, []).put(H, b"mine")


def test_open_retries_the_opening_only(faults: Faults) -> None:
    faults.inner.put(H, b"0123456789")
    faults.fail("open", 2)
    waits: list[float] = []
    b = wrap(faults, waits)
    with b.open(H, 2, 3) as fh:
        assert fh.read() == b"234"
    assert len(waits) == 2
    with pytest.raises(StorageUnavailable), b.open(H):
        raise StorageUnavailable("the caller's own failure")
    assert faults.calls["open"] == 4  # not reopened after the caller's failure


def test_writer_streams_are_never_retried(faults: Faults) -> None:
    faults.fail("writer", 1)
    b = wrap(faults, [])
    with pytest.raises(StorageUnavailable), b.writer(Handle("data", "d")) as fh:
        fh.write(b"x")
    assert faults.calls["writer"] == 1


def test_on_retry_hook_and_jittered_backoff(faults: Faults) -> None:
    seen: list[tuple[str, int, float]] = []
    r = Retrier(RetryPolicy(base_s=0.5, cap_s=3.0), sleep=lambda _s: None, rng=lambda: 0.0)
    r.listen(lambda op, attempt, delay, exc: seen.append((op, attempt, delay)))
    b = RetryingBackend(faults, r)
    faults.fail("list", 3)
    b.list("data")
    assert seen == [("list", 1, 0.25), ("list", 2, 0.5), ("list", 3, 1.0)] and r.count == 3
    assert [backoff(n, 1.0, 5.0, lambda: 1.0) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert is_transient(StorageUnavailable("x")) and not is_transient(StorageError("x"))
    assert b.location == faults.location


def test_aborts_get_their_own_short_budget() -> None:
    waits: list[float] = []
    r = retrier(waits, budget=120.0, abort_budget_s=5.0)

    def down() -> None:
        raise StorageUnavailable("reset")

    with pytest.raises(StorageUnavailable):
        r.abort("abort", down)
    assert sum(waits) <= 5.0 and waits


def test_the_policy_comes_from_url_values_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DBSEAL_RETRY_BUDGET", raising=False)
    monkeypatch.delenv("DBSEAL_STORAGE_TIMEOUT", raising=False)
    default = RetryPolicy.from_settings()
    assert default.budget_s >= 60 and default.failure_bound_s() <= 300  # "a few minutes"
    p = RetryPolicy.from_settings("7", "2")
    assert (p.budget_s, p.read_timeout_s, p.connect_timeout_s) == (7.0, 2.0, 2.0)
    monkeypatch.setenv("DBSEAL_RETRY_BUDGET", "30")
    assert RetryPolicy.from_settings().budget_s == 30.0
    assert RetryPolicy.from_settings("5").budget_s == 5.0  # the URL wins
    with pytest.raises(UsageError, match="retry_budget"):
        RetryPolicy.from_settings("soon")
