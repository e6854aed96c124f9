"""The throwaway verify server really runs with the scratch-load options (a real mariadbd)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from dbseal.engines.mariadb.verify_restore import _start_throwaway


def test_throwaway_server_accepts_and_applies_the_scratch_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    server = _start_throwaway({"sizes": {"raw": 10 << 20}})
    try:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT @@innodb_doublewrite, @@innodb_flush_log_at_trx_commit, @@log_bin, "
                "@@innodb_flush_method, @@innodb_log_file_size, @@innodb_buffer_pool_size"
            )
            row = cur.fetchone()
        assert row is not None
        doublewrite, flush, log_bin, method, log_size, pool = row
        assert (int(doublewrite), int(flush), int(log_bin)) == (0, 0, 0)
        assert method == "nosync"
        assert int(log_size) >= 64 << 20 and int(pool) >= 256 << 20
        # a 10 MB backup fits in tmpfs on any machine that runs this suite
        if Path("/dev/shm").is_dir():
            assert str(server.tmpdir).startswith("/dev/shm/")
    finally:
        tmpdir = server.tmpdir
        server.stop()
    assert not tmpdir.exists()


def test_an_explicit_tmpdir_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # as in a new process: TMPDIR read afresh
    server = _start_throwaway({"sizes": {"raw": 10 << 20}})
    try:
        assert server.tmpdir.parent == tmp_path
    finally:
        server.stop()
