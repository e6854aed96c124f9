"""Exact FLOAT values: mariadb-dump prints FLOAT with 6 significant digits; dbseal fixes that.

A FLOAT column (single precision, without ``(M,D)``) holding ``1.0000001`` is printed by
the server's text protocol, and so by mariadb-dump, as ``1``; ``16777216`` as
``16777200``. A restore would silently store the rounded value. mariadb-dump has no
option for this, so dbseal adds, after the dump, a section of its own
(:func:`fixup_sql`) that sets every such value back, exactly::

    UPDATE `t` SET `f` = 1.0000001192092896, `ts` = `ts` WHERE `id` = 1;

The value is read in the dump's snapshot as ``CAST(f AS DOUBLE)`` and written with the
17 significant digits that give back that double, whose conversion to FLOAT is the
original single-precision value, bit for bit. Only rows whose printed form does not
read back exactly are updated (``CAST(CAST(f AS CHAR) AS FLOAT) <=> f`` is false), so a
table whose FLOAT values all print exactly costs one scan and no statement.
``ON UPDATE CURRENT_TIMESTAMP`` columns are set to themselves, so they keep their value.

An UPDATE cannot be made invisible to everything, so a table is *not* fixed, and is
recorded as inexact (:attr:`FloatPlan.inexact`, a backup warning), when it has no
primary key or NOT NULL unique key without FLOAT columns to address rows with, when it
has an UPDATE trigger (it would run), or when it is system-versioned (each UPDATE would
add a history row; history rows keep the rounded values).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pymysql
import pymysql.cursors

from dbseal.engines.mariadb.connect import Conn, quote_ident

BATCH_ROWS = 5000  # UPDATEs per transaction in the restore


@dataclass(frozen=True)
class FloatTable:
    database: str
    table: str
    floats: tuple[str, ...]
    key: tuple[str, ...]
    keep: tuple[str, ...] = ()  # ON UPDATE CURRENT_TIMESTAMP columns, set to themselves


@dataclass
class FloatPlan:
    """The tables dbseal fixes, and a note per table whose FLOAT values stay rounded."""

    tables: list[FloatTable] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)
    inexact_tables: set[tuple[str, str]] = field(default_factory=set)


def _float_columns(conn: Conn, databases: Sequence[str]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    if not databases:
        return out
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME FROM information_schema.COLUMNS c "
            "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA "
            "AND t.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.TABLE_SCHEMA IN %s AND c.DATA_TYPE = 'float' AND c.COLUMN_TYPE NOT LIKE '%%(%%' "
            "AND c.EXTRA NOT LIKE '%%GENERATED%%' "
            "AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') "
            "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
            (tuple(databases),),
        )
        for db, table, column in cur.fetchall():
            out.setdefault((str(db), str(table)), []).append(str(column))
    return out


def _row_key(conn: Conn, db: str, table: str, floats: Sequence[str]) -> tuple[str, ...] | None:
    """The primary key, else the first unique key of NOT NULL columns; never a FLOAT one."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE FROM information_schema.STATISTICS s "
            "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA "
            "AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME "
            "WHERE s.TABLE_SCHEMA = %s AND s.TABLE_NAME = %s AND s.NON_UNIQUE = 0 "
            "ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX",
            (db, table),
        )
        keys: dict[str, list[tuple[str, str]]] = {}
        for index, column, nullable in cur.fetchall():
            keys.setdefault(str(index), []).append((str(column), str(nullable)))
    for cols in keys.values():
        if all(n == "NO" and c not in floats for c, n in cols):
            return tuple(c for c, _ in cols)
    return None


def _scalar_set(conn: Conn, sql: str, params: tuple[object, ...]) -> set[str]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return {str(r[0]) for r in cur.fetchall()}


def float_plan(
    conn: Conn, databases: Sequence[str], skip: Iterable[tuple[str, str]] = ()
) -> FloatPlan:
    """Which tables' FLOAT values dbseal restores exactly, and which it cannot (why)."""
    plan = FloatPlan()
    skipped = set(skip)
    for (db, table), floats in _float_columns(conn, databases).items():
        if (db, table) in skipped:
            continue
        name = f"{db}.{table} ({', '.join(floats)})"
        versioned = _scalar_set(
            conn,
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = %s AND TABLE_TYPE = 'SYSTEM VERSIONED'",
            (db, table),
        )
        triggers = _scalar_set(
            conn,
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = %s "
            "AND EVENT_OBJECT_TABLE = %s AND EVENT_MANIPULATION = 'UPDATE'",
            (db, table),
        )
        key = _row_key(conn, db, table, floats)
        why = (
            "it is system-versioned"
            if versioned
            else "it has an UPDATE trigger"
            if triggers
            else "it has no primary or NOT NULL unique key"
            if key is None
            else None
        )
        if why is not None or key is None:  # (key is None implies why)
            plan.inexact.append(
                f"FLOAT columns {name} are written with 6 significant digits ({why})"
            )
            plan.inexact_tables.add((db, table))
            continue
        keep = _scalar_set(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = %s AND EXTRA LIKE '%%on update%%'",
            (db, table),
        )
        plan.tables.append(FloatTable(db, table, tuple(floats), key, tuple(sorted(keep))))
    return plan


def _literal(conn: Conn, value: object) -> str:
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as this very double
    return str(conn.escape(value))


def _table_fixups(conn: Conn, t: FloatTable) -> Iterator[str]:
    floats = [quote_ident(c) for c in t.floats]
    key = [quote_ident(c) for c in t.key]
    rounded = " OR ".join(f"NOT (CAST(CAST({c} AS CHAR) AS FLOAT) <=> {c})" for c in floats)
    select = (
        f"SELECT {', '.join(key)}, {', '.join(f'CAST({c} AS DOUBLE)' for c in floats)} "
        f"FROM {quote_ident(t.database)}.{quote_ident(t.table)} WHERE {rounded}"
    )
    keep = "".join(f", {quote_ident(c)} = {quote_ident(c)}" for c in t.keep)
    cur = conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(select)
        n = -1
        for n, row in enumerate(cur):
            if n % BATCH_ROWS == 0:
                yield ("COMMIT;\n" if n else "") + "START TRANSACTION;\n"
            ks, vs = row[: len(key)], row[len(key) :]
            sets = ", ".join(f"{c} = {_literal(conn, v)}" for c, v in zip(floats, vs, strict=True))
            where = " AND ".join(f"{c} = {_literal(conn, v)}" for c, v in zip(key, ks, strict=True))
            yield f"UPDATE {quote_ident(t.table)} SET {sets}{keep} WHERE {where};\n"
        if n >= 0:
            yield "COMMIT;\n"
    finally:
        cur.close()


def fixup_sql(conn: Conn, plan: FloatPlan) -> Iterator[bytes]:
    """The section that sets the exact FLOAT values, per database; read in ``conn``'s snapshot."""
    if not plan.tables:
        return
    yield (
        b"--\n-- dbseal: exact FLOAT values (mariadb-dump printed them with 6 significant digits)\n"
        b"--\n/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
    )
    current = None
    for t in plan.tables:
        if t.database != current:
            current = t.database
            db = quote_ident(t.database)
            yield f"\n--\n-- Current Database: {db}\n--\n\nUSE {db};\n".encode()
        pieces: list[str] = []
        size = 0
        for statement in _table_fixups(conn, t):
            pieces.append(statement)
            size += len(statement)
            if size >= 1 << 20:
                yield "".join(pieces).encode()
                pieces, size = [], 0
        if pieces:
            yield "".join(pieces).encode()
