"""In-flight announcements: made and withdrawn, refreshed, and when they go stale."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbseal.catalog.inflight import (
    STALE_AFTER_S,
    Announcement,
    InFlight,
    inflight_handle,
    live_announcements,
    users_of,
)
from dbseal.storage import LocalBackend

KEYS = [{"keyring_id": "ab" * 16, "key": "backup", "version": 2}]


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    b = LocalBackend(str(tmp_path / "repo"))
    b.prepare()
    return b


def _put(backend: LocalBackend, host: str, pid: int, age_s: float) -> None:
    when = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=age_s)).isoformat()
    ann = Announcement("20260101T000000Z-0000abcd", host, pid, when, when, KEYS)
    backend.put(inflight_handle(ann.backup_id), ann.encode())


def test_announced_for_the_block_and_found_by_key(backend: LocalBackend) -> None:
    with InFlight(backend, "20260101T000000Z-00000001", KEYS):
        (live,) = live_announcements(backend)
        assert live.backup_id == "20260101T000000Z-00000001"
        assert users_of(backend, ("ab" * 16, "backup", 2)) == [live]
        assert users_of(backend, ("ab" * 16, "backup", 1)) == []
    assert backend.list("inflight") == []


def test_refreshed_while_running(backend: LocalBackend) -> None:
    with InFlight(backend, "20260101T000000Z-00000002", KEYS, refresh_s=0.05) as running:
        first = running.ann.started
        deadline = time.monotonic() + 30
        while True:
            doc = Announcement.decode(backend.get(inflight_handle(running.ann.backup_id)))
            if doc is not None and doc.refreshed != first:
                break
            assert time.monotonic() < deadline, "the announcement was never refreshed"
            time.sleep(0.05)


def test_another_hosts_announcement_is_stale_once_not_refreshed(backend: LocalBackend) -> None:
    _put(backend, "elsewhere", 1, age_s=STALE_AFTER_S / 2)
    assert len(live_announcements(backend)) == 1
    backend.remove(inflight_handle("20260101T000000Z-0000abcd"))
    _put(backend, "elsewhere", 1, age_s=STALE_AFTER_S + 60)
    assert live_announcements(backend) == []


def test_a_dead_pid_on_this_host_is_stale(backend: LocalBackend) -> None:
    import socket

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _put(backend, socket.gethostname(), gone.pid, age_s=0)
    assert live_announcements(backend) == []
