"""Receiver uploads in parts on a real LocalBackend: resent parts and commits are idempotent,
nothing is visible before the commit, and sessions belong to their client."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from dbseal.errors import ObjectNotFound
from dbseal.server.uploads import UploadSessions
from dbseal.storage import Handle, LocalBackend

H = Handle("data", "p.dbseal")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    b = LocalBackend(str(tmp_path / "repo"))
    b.prepare()
    return b


def test_a_resent_part_and_a_resent_commit_are_not_doubled(backend: LocalBackend) -> None:
    s = UploadSessions(backend)
    uid = s.start("alice", H, False)
    assert s.part("alice", uid, 1, b"one", sha(b"one")) == 3
    assert s.part("alice", uid, 1, b"one", sha(b"one")) == 3  # its answer was lost
    assert s.part("alice", uid, 2, b"two", sha(b"two")) == 6
    assert backend.stat(H) is None  # nothing visible before the commit
    with pytest.raises(ValueError, match="out of order"):
        s.part("alice", uid, 4, b"x", sha(b"x"))
    with pytest.raises(ValueError, match="digest"):
        s.part("alice", uid, 3, b"x", sha(b"y"))
    assert s.commit("alice", uid, 2, 6) == (H, 6)
    assert s.commit("alice", uid, 2, 6) == (H, 6)  # resent commit
    assert backend.get(H) == b"onetwo" and s.count() == 0


def test_sessions_belong_to_their_client_and_aborts_leave_nothing(backend: LocalBackend) -> None:
    s = UploadSessions(backend)
    uid = s.start("alice", H, False)
    s.part("alice", uid, 1, b"data", sha(b"data"))
    with pytest.raises(ObjectNotFound):
        s.part("mallory", uid, 2, b"x", sha(b"x"))
    assert s.abort("mallory", uid) is None
    assert s.abort("alice", uid) == H
    assert backend.stat(H) is None and backend.leftovers() == []


def test_an_idle_session_expires_and_is_reported(backend: LocalBackend) -> None:
    expired: list[str] = []
    s = UploadSessions(backend, resume_s=0.05, on_expired=lambda _s, why: expired.append(why))
    uid = s.start("alice", H, False)
    s.part("alice", uid, 1, b"data", sha(b"data"))
    deadline = time.monotonic() + 10
    while not expired and time.monotonic() < deadline:
        time.sleep(0.02)
    assert expired and "after 4 bytes" in expired[0]
    with pytest.raises(ObjectNotFound):
        s.commit("alice", uid, 1, 4)
    assert backend.stat(H) is None and backend.leftovers() == []
    s.close()
