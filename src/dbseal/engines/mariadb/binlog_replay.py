"""Replaying archived binary logs into (staging) databases with ``mariadb-binlog | mariadb``.

One pass per database, streamed (no SQL file): ``mariadb-binlog --database=DB --rewrite-db=DB->STAGING
--start-position=P [--stop-position=Q] FILES...`` turns the events of DB into SQL against
the staging database, which the ``mariadb`` client applies (``--binary-mode``, the login in
a 0600 option file). The SQL sets each transaction's original GTID and server id; those
``SET @@session.gtid_*``/``server_id`` lines are dropped, so the target gives the replayed
transactions GTIDs of its own (a restore is a new write on the target; replaying a source's
GTIDs into the source itself would break its GTID order, and needs SUPER).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.binlog_stream import BINLOG_PROGRAMS
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.tools import CLIENT_PROGRAMS, find_tool
from dbseal.errors import RestoreFailed

# grep -v in C, between the two clients: no copy through Python (docs/benchmarks.md)
_DROPPED = r"^/\*!100001 SET @@session\.(gtid_domain_id|server_id|gtid_seq_no)=[0-9]+\*/"


def _binlog_args(
    files: Sequence[Path], start: int, stop: int | None, database: str, staging: str
) -> list[str]:
    tool = find_tool(BINLOG_PROGRAMS)
    return [
        tool.path,
        "--no-defaults",
        f"--database={database}",
        f"--rewrite-db={database}->{staging}",
        f"--start-position={start}",
        *([f"--stop-position={stop}"] if stop is not None else []),
        *(str(f) for f in files),
    ]


def replay_database(
    files: Sequence[Path],
    start: int,
    stop: int | None,
    database: str,
    staging: str,
    target: MySQLTarget,
    password: Secret | None,
) -> None:
    """``mariadb-binlog ... | grep -v DROPPED | mariadb``: ``database``'s events into ``staging``."""
    client = find_tool(CLIENT_PROGRAMS)
    grep = shutil.which("grep") or "/usr/bin/grep"
    with (
        ClientOptionsFile(target, password, client.flavor) as opts,
        tempfile.TemporaryFile() as reader_err,
        tempfile.TemporaryFile() as writer_err,
    ):
        reader = subprocess.Popen(
            _binlog_args(files, start, stop, database, staging),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=reader_err,
            env={"TZ": "UTC"},
        )
        filt = subprocess.Popen(
            [grep, "-a", "-v", "-E", _DROPPED],
            stdin=reader.stdout,
            stdout=subprocess.PIPE,
            env={"LC_ALL": "C"},
        )
        writer = subprocess.Popen(
            [client.path, opts.argument, "--binary-mode"],
            stdin=filt.stdout,
            stdout=subprocess.DEVNULL,
            stderr=writer_err,
            env=opts.env,
        )
        for pipe in (reader.stdout, filt.stdout):  # the children hold them now
            if pipe is not None:
                pipe.close()
        rc_w = writer.wait()
        if rc_w != 0:
            for proc in (reader, filt):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        rc_r, rc_f = reader.wait(), filt.wait()
        reader_err.seek(0)
        writer_err.seek(0)
        r_msg, w_msg = reader_err.read(), writer_err.read()
    if rc_w != 0:
        lines = w_msg.decode("utf-8", "replace").strip().splitlines()
        raise RestoreFailed(
            f"replaying the archived binary logs failed: {lines[-1] if lines else rc_w}"
        )
    if rc_r != 0 or rc_f > 1:  # grep: 1 is "no line left", not an error
        raise RestoreFailed(
            "mariadb-binlog could not read the archived logs: "
            + r_msg.decode("utf-8", "replace").strip()[:300]
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
    for database, staging in renames.items():
        replay_database(files, start, stop, database, staging, target, password)
