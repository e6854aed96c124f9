"""Dump restored tables again and digest their rows, to compare with a backup's digests.

The restore level of ``dbseal verify`` runs this against the copy it restored::

    mariadb-dump --defaults-file=F --single-transaction --quick --hex-blob
        --default-character-set=utf8mb4 --tz-utc --max-allowed-packet=1G
        --no-tablespaces --no-create-info --no-create-db --skip-triggers
        --skip-comments [--dump-history] --databases -- DB...

The options that shape how rows print are the backup's (:data:`DUMP_OPTIONS`); only
the rows are kept (no DDL, no routines). The output goes straight into a
:class:`~dbseal.engines.mariadb.tabledigest.TableDigester` and is never stored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.dumprun import READ_BLOCK, spawn_dump
from dbseal.engines.mariadb.messages import StderrCollector
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.tabledigest import TableDigester
from dbseal.engines.mariadb.tools import DUMP_PROGRAMS, HISTORY_OPTIONS, dumps_history, find_tool
from dbseal.errors import CheckNotRun

ROW_OPTIONS: tuple[str, ...] = (
    "--single-transaction",
    "--quick",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    "--tz-utc",
    "--max-allowed-packet=1G",
    "--no-tablespaces",
    "--no-create-info",
    "--no-create-db",
    "--skip-triggers",
    "--skip-comments",
)


@dataclass(frozen=True)
class Redump:
    digests: dict[tuple[str, str], int]
    client_version: str


def redump_digests(
    target: MySQLTarget,
    password: Secret | None,
    databases: Sequence[str],
    rename: Mapping[str, str] | None = None,
) -> Redump:
    """Digests of every table of ``databases`` (their names in the backup; ``rename`` maps
    them to the names on ``target``), reported under the backup's names."""
    tool = find_tool(DUMP_PROGRAMS)
    to_server = dict(rename or {})
    names = [to_server.get(db, db) for db in databases]
    digester = TableDigester({new: old for old, new in to_server.items()})
    with ClientOptionsFile(target, password, tool.flavor) as options:
        args = [*ROW_OPTIONS, *(HISTORY_OPTIONS if dumps_history(tool) else ())]
        proc = spawn_dump(tool.path, options, args, tuple(names))
        assert proc.stdout is not None and proc.stderr is not None
        errors = StderrCollector(proc.stderr, name="dbseal-redump-stderr")
        try:
            while block := os.read(proc.stdout.fileno(), READ_BLOCK):
                digester.feed(block)
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            _, summary = errors.finish()
    if rc != 0 or summary.errors:
        first = summary.first_errors[0] if summary.first_errors else f"exit status {rc}"
        raise CheckNotRun(f"{tool.name} could not dump the restored tables again: {first}")
    return Redump(digester.digests(), tool.version_line)
