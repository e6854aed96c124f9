"""Staging databases for all-or-nothing restores, and the ledger that finds their leftovers.

A restore never writes into its target databases while the dump is applied: each target
``T`` gets a staging database ``dbseal_stage_<run>_<i>`` (the dump is renamed into it), and
only a complete copy is moved into ``T`` (:mod:`dbseal.engines.mariadb.swap`). Before the first
staging database exists, a ledger database ``dbseal_restore_<run>`` is created holding one
row per target (staging name, target name, backup id). A restore that is stopped (storage,
server, signal) drops its staging databases and its ledger; one that cannot (``kill -9``,
the server gone) leaves the ledger, so the next restore into ``T`` finds the leftover and
says so (``--replace`` removes it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import pymysql

from dbseal.engines.mariadb.connect import Conn, quote_ident

STAGE_PREFIX = "dbseal_stage_"
LEDGER_PREFIX = "dbseal_restore_"
LEDGER_TABLE = "incomplete"
MARKER_TABLE = "dbseal_incomplete_restore"  # in a target while the swap runs
_UNREADABLE = (1044, 1049, 1142, 1146)  # access denied, no such database, denied, no such table


@dataclass(frozen=True)
class Leftover:
    """A staging database (or a marked target) left by a restore that could not clean up."""

    ledger: str
    staging: str
    target: str
    backup: str


@dataclass
class Staging:
    """One restore's staging: ``names`` maps each target database to its staging database."""

    ledger: str
    backup: str
    names: dict[str, str] = field(default_factory=dict)

    def rename_of(self, target: str) -> str:
        return self.names.get(target, target)


def begin_staging(conn: Conn, targets: Sequence[str], backup: str) -> Staging:
    """Create the ledger (before any staging database exists) and name the staging databases."""
    run = os.urandom(5).hex()
    staging = Staging(f"{LEDGER_PREFIX}{run}", backup)
    staging.names = {t: f"{STAGE_PREFIX}{run}_{i}" for i, t in enumerate(targets)}
    ledger = quote_ident(staging.ledger)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {ledger} COMMENT 'dbseal: restore in progress'")
        cur.execute(
            f"CREATE TABLE {ledger}.{LEDGER_TABLE} (staging VARCHAR(64) NOT NULL, "
            "target VARCHAR(64) NOT NULL, backup VARCHAR(255) NOT NULL) CHARACTER SET utf8mb4"
        )
        cur.executemany(
            f"INSERT INTO {ledger}.{LEDGER_TABLE} VALUES (%s, %s, %s)",
            [(s, t, backup) for t, s in staging.names.items()],
        )
    return staging


def drop_staging(conn: Conn, staging: Staging) -> None:
    """Drop the staging databases, then the ledger (the order a crash in between needs)."""
    with conn.cursor() as cur:
        for name in staging.names.values():
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(staging.ledger)}")


def find_leftovers(conn: Conn, targets: Sequence[str]) -> list[Leftover]:
    """The ledger rows of earlier restores into any of ``targets``."""
    wanted = set(targets)
    found: list[Leftover] = []
    with conn.cursor() as cur:
        cur.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
            (LEDGER_PREFIX.replace("_", "\\_") + "%",),
        )
        ledgers = [str(r[0]) for r in cur.fetchall()]
        for ledger in ledgers:
            try:
                cur.execute(
                    f"SELECT staging, target, backup FROM {quote_ident(ledger)}.{LEDGER_TABLE}"
                )
            except pymysql.err.ProgrammingError:
                continue  # a ledger whose table was never created: holds no staging
            for staging, target, backup in cur.fetchall():
                if str(target) in wanted:
                    found.append(Leftover(ledger, str(staging), str(target), str(backup)))
    return found


def marked_target(conn: Conn, name: str) -> str | None:
    """The backup id in ``name``'s marker table (a swap that did not finish), or None."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (name, MARKER_TABLE),
        )
        if cur.fetchone() is None:
            return None
        try:
            cur.execute(f"SELECT backup FROM {quote_ident(name)}.{MARKER_TABLE} LIMIT 1")
        except pymysql.err.MySQLError as exc:
            if exc.args[0] in _UNREADABLE:
                return "an unknown backup"
            raise
        row = cur.fetchone()
    return str(row[0]) if row else "an unknown backup"


def discard_leftovers(conn: Conn, leftovers: Sequence[Leftover]) -> None:
    """Drop the leftovers' staging databases and ledger rows (an emptied ledger too)."""
    with conn.cursor() as cur:
        for left in leftovers:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(left.staging)}")
            ledger = quote_ident(left.ledger)
            cur.execute(f"DELETE FROM {ledger}.{LEDGER_TABLE} WHERE staging = %s", (left.staging,))
        for ledger in sorted({left.ledger for left in leftovers}):
            cur.execute(f"SELECT COUNT(*) FROM {quote_ident(ledger)}.{LEDGER_TABLE}")
            row = cur.fetchone()
            if row is not None and int(row[0]) == 0:
                cur.execute(f"DROP DATABASE {quote_ident(ledger)}")


__all__ = [
    "LEDGER_PREFIX",
    "MARKER_TABLE",
    "STAGE_PREFIX",
    "Leftover",
    "Staging",
    "begin_staging",
    "discard_leftovers",
    "drop_staging",
    "find_leftovers",
    "marked_target",
]
