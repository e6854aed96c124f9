"""PostgreSQL base backups (`--method physical`: pg_basebackup into the seal pipeline) and
their restore-level verify (unpacked, pg_verifybackup, a throwaway server recovers them)."""

from __future__ import annotations

import json
import os
import signal
import time

from pgkit import AWKWARD_SCHEMA
from test_pg_backup import backup_id, pg_backup, pw_file, show, tag

from conftest import DbsealUser
from dbseal.engines.postgresql.sandbox import PostgresSandbox


def test_base_backup_is_recorded_and_verifies_in_a_throwaway_server(
    user: DbsealUser, pg_binaries: str
) -> None:
    with PostgresSandbox(tls=True) as pg:
        db = f"phys_{tag()}"
        pg.sql(f"CREATE DATABASE {db}")
        pg.sql(AWKWARD_SCHEMA, db)
        repo = user.init()
        res = pg_backup(user, repo, pg, extra=("--method", "physical")).ok()
        bid = backup_id(res.stdout)
        m = show(user, repo, bid)
        assert m["status"] == "ok", m["reasons"]
        assert m["source"]["kind"] == "postgresql-physical" and db in m["databases"]
        c = m["contents"]
        assert c["start_lsn"] and c["stop_lsn"] and c["timeline"] == 1
        assert "LABEL: dbseal" in c["backup_label"] and c["manifest_files"] > 100
        pg.sql("CREATE TABLE later (x int)", db)  # after the backup: not in it

    out = user.run(
        "verify", "--repo", repo, bid, "--level", "restore", "-i", user.identity, "--json"
    ).ok()
    (v,) = json.loads(out.stdout)
    assert v["result"] == "ok", v
    tables = {(t["database"], t["table"]): t["found_rows"] for t in v["tables"]}
    assert tables[(db, "public.kinds")] == 4
    assert (db, "public.later") not in tables


def test_killed_pg_basebackup_fails_the_backup(user: DbsealUser, pg_binaries: str) -> None:
    from test_pg_failures import children

    with PostgresSandbox() as pg:
        pg.sql(
            "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 10) AS pad "
            "FROM generate_series(1, 300000) i"
        )
        repo = user.init()
        proc = user.spawn(
            "backup", "--repo", repo, "--source", pg.url(), "--method", "physical",
            "--password-file", pw_file(user, pg),
        )  # fmt: skip
        try:
            deadline, victim = time.monotonic() + 60, None
            while victim is None and time.monotonic() < deadline and proc.poll() is None:
                found = [p for p, a in children(proc.pid).items() if a[0].endswith("pg_basebackup")]
                victim = found[0] if found else None
                time.sleep(0.002)
            assert victim is not None, "pg_basebackup was not seen running"
            os.kill(victim, signal.SIGKILL)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    (line,) = err.decode().splitlines()
    assert proc.returncode == 25, line
    assert "killed by signal SIGKILL" in line
    listing = json.loads(user.run("list", "--repo", repo, "--json").ok().stdout)
    assert [b["status"] for b in listing["backups"]] == ["failed"]
