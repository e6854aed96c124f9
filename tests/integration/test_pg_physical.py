"""PostgreSQL base backups (`--method physical`: pg_basebackup into the seal pipeline) and
their restore-level verify (unpacked, pg_verifybackup, a throwaway server recovers them)."""

from __future__ import annotations

import json

from pgkit import AWKWARD_SCHEMA
from test_pg_backup import backup_id, pg_backup, show, tag

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
