"""The pruning lock: create-only acquire, stale takeover, lost-race detection."""

from __future__ import annotations

import datetime
import json
import threading
from pathlib import Path

import pytest

from dbseal.catalog.lock import LOCK, RepositoryLock
from dbseal.errors import LockHeld
from dbseal.storage import LocalBackend


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    b = LocalBackend(str(tmp_path / "repo"))
    b.prepare()
    return b


def test_second_locker_is_refused_and_told_who_holds_it(backend: LocalBackend) -> None:
    with RepositoryLock(backend, settle_s=0), pytest.raises(LockHeld, match="locked by"):
        RepositoryLock(backend, settle_s=0).acquire()
    RepositoryLock(backend, settle_s=0).acquire()  # released: free again


def test_a_stale_lock_of_a_dead_holder_is_taken_over(backend: LocalBackend) -> None:
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).isoformat()
    backend.put(
        LOCK, json.dumps({"token": "dead", "host": "h", "pid": 1, "expires": past}).encode()
    )
    lock = RepositoryLock(backend, settle_s=0)
    lock.acquire()
    assert (lock.holder() or {})["token"] == lock.token


def test_concurrent_acquirers_exactly_one_wins(backend: LocalBackend) -> None:
    winners, losers = [], []

    def go() -> None:
        lock = RepositoryLock(backend, settle_s=0.2)
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


def test_refresh_detects_a_lost_lock(backend: LocalBackend) -> None:
    lock = RepositoryLock(backend, settle_s=0)
    lock.acquire()
    backend.remove(LOCK)
    with pytest.raises(LockHeld, match="lost"):
        lock.refresh()
