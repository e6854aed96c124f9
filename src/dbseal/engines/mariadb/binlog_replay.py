"""Replaying archived binary logs into (staging) databases with ``mariadb-binlog | mariadb``.

One pass per database: ``mariadb-binlog --database=DB --rewrite-db=DB->STAGING
--start-position=P [--stop-position=Q] FILES...`` turns the events of DB into SQL against
the staging database, which the ``mariadb`` client applies (``--binary-mode``, the login in
a 0600 option file). The SQL sets each transaction's original GTID and server id; those
``SET @@session.gtid_*``/``server_id`` lines are dropped, so the target gives the replayed
transactions GTIDs of its own (a restore is a new write on the target; replaying a source's
GTIDs into the source itself would break its GTID order, and needs SUPER).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.binlog_stream import BINLOG_PROGRAMS
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.tools import CLIENT_PROGRAMS, find_tool
from dbseal.errors import RestoreFailed

_DROPPED = re.compile(rb"^/\*!100001 SET @@session\.(gtid_domain_id|server_id|gtid_seq_no)=\d+\*/")


def replay_sql(
    files: Sequence[Path], start: int, stop: int | None, database: str, staging: str, out: Path
) -> None:
    """Write the SQL of ``database``'s events (renamed to ``staging``) into ``out``."""
    tool = find_tool(BINLOG_PROGRAMS)
    args = [
        tool.path,
        "--no-defaults",
        f"--database={database}",
        f"--rewrite-db={database}->{staging}",
        f"--start-position={start}",
        *([f"--stop-position={stop}"] if stop is not None else []),
        *(str(f) for f in files),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"TZ": "UTC"})
    assert proc.stdout is not None
    with out.open("wb") as fh:
        for line in proc.stdout:
            if not _DROPPED.match(line):
                fh.write(line)
    err = proc.stderr.read() if proc.stderr is not None else b""
    if proc.wait() != 0:
        raise RestoreFailed(
            f"mariadb-binlog could not read the archived logs: {err.decode('utf-8', 'replace').strip()[:300]}"
        )


def apply_sql(sql: Path, target: MySQLTarget, password: Secret | None) -> None:
    tool = find_tool(CLIENT_PROGRAMS)
    with ClientOptionsFile(target, password, tool.flavor) as opts, sql.open("rb") as fh:
        proc = subprocess.run(
            [tool.path, opts.argument, "--binary-mode"],
            stdin=fh,
            capture_output=True,
            env=opts.env,
            check=False,
        )
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RestoreFailed(
            f"replaying the archived binary logs failed: {msg[-1] if msg else proc.returncode}"
        )


def replay(
    files: Sequence[Path],
    start: int,
    stop: int | None,
    renames: Mapping[str, str],
    target: MySQLTarget,
    password: Secret | None,
    scratch: Path,
) -> None:
    """Replay the events of each database of ``renames`` (old -> staging name)."""
    for i, (database, staging) in enumerate(renames.items()):
        sql = scratch / f"replay-{i}.sql"
        try:
            replay_sql(files, start, stop, database, staging, sql)
            apply_sql(sql, target, password)
        finally:
            sql.unlink(missing_ok=True)
