"""The pruning lock: create-only acquire, refresh, stale rules, lost-race detection."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dbseal.catalog.lock import LOCK, RepositoryLock, process_start
from dbseal.errors import LockHeld, LockLost
from dbseal.storage import LocalBackend


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    b = LocalBackend(str(tmp_path / "repo"))
    b.prepare()
    return b


def _lock(backend: LocalBackend, **kw: float) -> RepositoryLock:
    kw.setdefault("settle_s", 0)
    kw.setdefault("wait_s", 0)
    return RepositoryLock(backend, **kw)  # type: ignore[arg-type]


def _foreign(backend: LocalBackend, refreshed: datetime.datetime, seq: int = 0) -> None:
    doc = {
        "token": "other",
        "host": "another-host",
        "pid": 4242,
        "created": refreshed.isoformat(),
        "refreshed": refreshed.isoformat(),
        "seq": seq,
        "timeout_s": 0.5,
    }
    backend.put(LOCK, json.dumps(doc).encode(), overwrite=True)


def test_second_locker_is_refused_and_told_who_holds_it(backend: LocalBackend) -> None:
    with _lock(backend), pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
        _lock(backend).acquire()
    _lock(backend).acquire()  # released: free again


def test_the_record_names_host_pid_and_times(backend: LocalBackend) -> None:
    with _lock(backend) as lock:
        doc = lock.holder() or {}
    assert doc["host"] and doc["pid"] == os.getpid()
    assert doc["pid_start"] == process_start(os.getpid())
    assert datetime.datetime.fromisoformat(doc["refreshed"]) and doc["seq"] == 0


def test_the_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(
    backend: LocalBackend,
) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    holder = RepositoryLock(backend, settle_s=0)
    doc = holder._doc() | {"token": "dead", "pid": proc.pid, "pid_start": "1"}
    backend.put(LOCK, json.dumps(doc).encode())
    lock = _lock(backend)  # no waiting at all
    lock.acquire()
    assert (lock.holder() or {})["token"] == lock.token


def test_a_reused_pid_does_not_keep_a_dead_holders_lock(backend: LocalBackend) -> None:
    doc = RepositoryLock(backend)._doc() | {"token": "old", "pid_start": "12345678"}
    backend.put(LOCK, json.dumps(doc).encode())  # our pid, but another process start time
    lock = _lock(backend)
    lock.acquire()
    assert (lock.holder() or {})["token"] == lock.token


def test_a_foreign_lock_seen_unchanged_for_the_timeout_is_taken_over(
    backend: LocalBackend,
) -> None:
    # refreshed "tomorrow" (its host's clock was ahead), then its holder died
    _foreign(backend, datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1))
    with pytest.raises(LockHeld):
        _lock(backend, timeout_s=0.5, poll_s=0.05).acquire()  # not waited for: not stale yet
    lock = _lock(backend, timeout_s=0.5, poll_s=0.05, wait_s=5)
    lock.acquire()
    assert (lock.holder() or {})["token"] == lock.token


def test_a_foreign_lock_that_keeps_changing_is_never_broken(backend: LocalBackend) -> None:
    # its refresh time is a year old by our clock: only that it changes matters
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=365)
    stop = threading.Event()

    def refresher() -> None:
        seq = 0
        while not stop.wait(0.1):
            seq += 1
            _foreign(backend, old, seq)

    _foreign(backend, old)
    t = threading.Thread(target=refresher)
    t.start()
    try:
        with pytest.raises(LockHeld, match="another-host"):
            _lock(backend, timeout_s=0.5, poll_s=0.05, wait_s=2).acquire()
    finally:
        stop.set()
        t.join()
    assert (RepositoryLock(backend).holder() or {})["token"] == "other"


def test_concurrent_acquirers_exactly_one_wins(backend: LocalBackend) -> None:
    winners, losers = [], []

    def go() -> None:
        lock = _lock(backend, settle_s=0.2)
        try:
            lock.acquire()
            winners.append(lock)
        except LockHeld:
            losers.append(lock)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 7


def test_the_holder_refreshes_and_notices_a_lost_lock(backend: LocalBackend) -> None:
    with RepositoryLock(backend, timeout_s=0.3, settle_s=0) as lock:
        first = (lock.holder() or {})["seq"]
        deadline = time.monotonic() + 10
        while (lock.holder() or {})["seq"] == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (lock.holder() or {})["seq"] > first, "refreshed while held"
        lock.confirm()
        _foreign(backend, datetime.datetime.now(datetime.UTC))  # broken and taken over
        with pytest.raises(LockLost, match="taken over"):
            lock.confirm()
    assert (RepositoryLock(backend).holder() or {})["token"] == "other", "not released: not ours"
