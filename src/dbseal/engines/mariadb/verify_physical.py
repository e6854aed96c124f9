"""The restore level of `dbseal verify` for physical (mariadb-backup) backups.

:func:`physical_check` restores the backup's chain (:mod:`dbseal.ops.restore_physical`)
into a temporary datadir, with its key files in a temporary directory, starts a throwaway
mariadbd on it (:class:`~dbseal.engines.mariadb.datadir_server.DatadirServer`: socket
only, the key plugin's options when the backup has them) and requires:

* crash recovery without errors: no ``[ERROR]`` line in the server's log;
* every table the manifest lists (``table_engines``, read on the source after the
  backup) present on the restored server;
* ``CHECK TABLE`` OK for every table (views excluded).

The restore time (extract, prepare, move) is what the verify record's ``restore_s``
holds. The server and the temporary directory are removed whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.crypto.recipients import Identity
from dbseal.engines.mariadb.datadir_server import DatadirServer
from dbseal.engines.mariadb.physical_restore import MariabackupRestorer, RestorerOptions
from dbseal.engines.mariadb.sandbox import find_binaries
from dbseal.errors import (
    BackupToolMismatch,
    ChainBroken,
    CheckNotRun,
    DataMismatch,
    FormatError,
    IntegrityFailure,
    PrepareFailed,
    SandboxError,
)
from dbseal.monitoring.reporter import Reporter
from dbseal.ops.restore_physical import restore_physical

RestoreOutcome = tuple[float, list[str], list[dict[str, Any]]]
SKIP_SCHEMAS = ("information_schema", "performance_schema")
_TABLES_SQL = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES "
    "WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE') "
    "AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema') "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME"
)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _restore(
    repo: Repository, bid: str, identities: Sequence[Identity], work: Path, reporter: Reporter
) -> tuple[float, dict[str, Any]]:
    restorer = MariabackupRestorer(
        work / "data", RestorerOptions(owner=None, key_dir=work / "keys")
    )
    t0 = time.monotonic()
    try:
        result = restore_physical(repo, bid, identities, restorer, reporter)
    except (FormatError, ChainBroken) as exc:
        raise IntegrityFailure(f"backup {bid}: {exc.message}") from None
    except PrepareFailed as exc:
        raise DataMismatch(f"backup {bid} does not restore: {exc.message}") from None
    except BackupToolMismatch as exc:
        raise CheckNotRun(exc.message, hint=exc.hint) from None
    return round(time.monotonic() - t0, 3), result


def _tables(server: DatadirServer) -> list[tuple[str, str, str]]:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        return [(str(d), str(t), str(e or "")) for d, t, e in cur.fetchall()]


def _check_tables(
    server: DatadirServer, tables: Sequence[tuple[str, str, str]]
) -> tuple[list[str], list[dict[str, Any]]]:
    problems, rows = [], []
    with server.connect() as conn, conn.cursor() as cur:
        for db, table, engine in tables:
            cur.execute(f"CHECK TABLE {_q(db)}.{_q(table)}")
            msgs = [(str(r[2]), str(r[3])) for r in cur.fetchall()]
            bad = [f"{kind}: {text}" for kind, text in msgs if kind.lower() in ("error",)]
            status = [text for kind, text in msgs if kind.lower() == "status"]
            ok = not bad and (not status or status[-1] in ("OK", "Table is already up to date"))
            count: int | None = None
            if ok and engine.upper() != "SEQUENCE":
                cur.execute(f"SELECT COUNT(*) FROM {_q(db)}.{_q(table)}")
                count = int(cur.fetchone()[0])  # type: ignore[index]
            if not ok:
                problems.append(f"CHECK TABLE {db}.{table}: {'; '.join(bad or status)}")
            rows.append(_row(db, table, count, ok))
    return problems, rows


def _row(db: str, table: str, count: int | None, ok: bool) -> dict[str, Any]:
    return {
        "database": db,
        "table": table,
        "expected_rows": None,
        "found_rows": count,
        "expected_checksum": None,
        "found_checksum": None,
        "method": "check-table",
        "ok": ok,
    }


def _compare(
    manifest: dict[str, Any], server: DatadirServer
) -> tuple[list[str], list[dict[str, Any]]]:
    problems = [f"the restored server logged: {line}" for line in server.error_lines()[:5]]
    found = _tables(server)
    have = {(d, t) for d, t, _ in found}
    expected = [
        (str(t.get("database")), str(t.get("table")))
        for t in manifest.get("table_engines") or []
        if t.get("database") not in SKIP_SCHEMAS
    ]
    missing = [f"{d}.{t}" for d, t in expected if (d, t) not in have]
    if missing:
        problems.append(
            f"{len(missing)} table(s) of the backup are not on the restored server: "
            + ", ".join(missing[:10])
        )
    checked, rows = _check_tables(server, found)
    rows += [_row(d, t, None, False) for d, t in expected if (d, t) not in have]
    return problems + checked, rows


def physical_check(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    manifest: dict[str, Any],
    reporter: Reporter,
) -> RestoreOutcome:
    """Restore into a temporary datadir, start mariadbd on it, check (see the module text)."""
    try:
        find_binaries()
    except SandboxError as exc:
        raise CheckNotRun(exc.message, hint=exc.hint) from None
    work = Path(tempfile.mkdtemp(prefix="dbseal-verify-physical-"))
    server: DatadirServer | None = None
    try:
        restore_s, result = _restore(repo, bid, identities, work, reporter)
        server = DatadirServer(work / "data", result.get("my_cnf") or (), parent_dir=work)
        try:
            server.start()
        except SandboxError as exc:
            raise DataMismatch(
                f"backup {bid}: mariadbd does not start on the restored datadir: {exc.message}"
            ) from None
        problems, rows = _compare(manifest, server)
        return restore_s, problems, rows
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["physical_check"]
