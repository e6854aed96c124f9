"""The per-source run lock (flock): exclusion, waiting, the holder's record, its directory."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dbseal.catalog.runlock import RunLock, default_state_dir, lock_path
from dbseal.errors import DbsealError, RunLocked


def test_same_source_is_refused_other_sources_are_not(tmp_path: Path) -> None:
    d = str(tmp_path / "state")
    with RunLock(d, "backup", "prod"):
        with pytest.raises(RunLocked) as info:
            RunLock(d, "backup", "prod").__enter__()
        assert f"pid {os.getpid()} since " in info.value.message
        assert info.value.exit_code == 42
        with RunLock(d, "backup", "staging"), RunLock(d, "verify", "prod"):
            pass
    with RunLock(d, "backup", "prod"):  # released on exit
        pass
    assert oct(os.stat(d).st_mode & 0o777) == "0o700"


def test_wait_lock_waits_for_the_holder_then_times_out(tmp_path: Path) -> None:
    d = str(tmp_path)
    holder = RunLock(d, "backup", "prod").__enter__()
    threading.Timer(0.5, holder.__exit__, (None, None, None)).start()
    t0 = time.monotonic()
    with RunLock(d, "backup", "prod", wait_s=30):
        assert 0.4 < time.monotonic() - t0 < 10
        t1 = time.monotonic()
        with pytest.raises(RunLocked, match=r"waited 0\.5 s"):
            RunLock(d, "backup", "prod", wait_s=0.5).__enter__()
        assert time.monotonic() - t1 >= 0.5


def test_source_names_cannot_leave_the_directory(tmp_path: Path) -> None:
    for name in ["../x", "a/b", "..", "."]:
        path = lock_path(str(tmp_path), "backup", name)
        assert os.path.dirname(path) == str(tmp_path) and "/" not in os.path.basename(path)
    assert lock_path(str(tmp_path), "backup", "a/b") != lock_path(str(tmp_path), "backup", "a_b")


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    d.chmod(0o777)
    with pytest.raises(DbsealError, match="writable only by it"):
        RunLock(str(d), "backup", "prod").__enter__()


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNTIME_DIRECTORY", f"{tmp_path}/a:{tmp_path}/b")
    assert default_state_dir() == f"{tmp_path}/a"  # systemd's RuntimeDirectory=
    monkeypatch.delenv("RUNTIME_DIRECTORY")
    if os.geteuid() == 0:
        assert default_state_dir() == "/run/dbseal"
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        assert default_state_dir() in ("/run/dbseal", f"{tmp_path}/dbseal")
