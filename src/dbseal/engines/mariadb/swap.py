"""Move complete staging databases into their targets: one atomic ``RENAME TABLE``.

MariaDB has no ``RENAME DATABASE``, but one multi-table ``RENAME TABLE`` is atomic: either
every table is renamed or none is. :func:`swap_in` does, for all targets at once:

1. (**before**; nothing in the targets changes) reads the definitions of the staging
   databases' triggers, views, routines and events, then drops the staging triggers
   (a table with triggers cannot move to another database) and the column defaults that
   call a staging sequence's ``nextval()`` (such a table cannot be opened once the sequence
   has moved). A target that does not exist
   is created (the backup's character set and collation, no ``IF NOT EXISTS``).
2. (**the atomic step**) one ``RENAME TABLE`` moves each target's current tables,
   sequences and views aside inside the target (``dbseal_old_<run>_<n>``; triggers follow),
   every staging table and sequence into its target, and a marker table
   (:data:`~dbseal.engines.mariadb.staging.MARKER_TABLE`, naming the backup) into each target.
3. (**after**; the window) drops what was moved aside and the targets' old routines and
   events; creates the new triggers, views (definitions rewritten from the
   staging names to the targets'), routines and events; sets the ``nextval()`` column
   defaults dropped in step 1 again, on the targets' sequences; gives a replaced target the backup's character
   set; drops the marker tables. A failure or a crash in this window leaves the new
   tables in place and the targets marked, so the next restore says so.

A failure in step 1 or 2 changes no target (a target created in step 1 is empty and is
dropped again).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pymysql

from dbseal.engines.base import SwapIncomplete
from dbseal.engines.mariadb.connect import Conn, quote_ident
from dbseal.engines.mariadb.staging import (
    MARKER_TABLE,
    STAGE_PREFIX,
    Staging,
    drop_staging,
    marked_target,
)


@dataclass(frozen=True)
class Definition:
    """A statement that recreates one object, and the session it must run in."""

    kind: str  # TRIGGER, VIEW, PROCEDURE, FUNCTION, EVENT
    name: str
    sql: str
    sql_mode: str = ""
    time_zone: str = ""


@dataclass
class Contents:
    """What one database holds, by kind."""

    tables: list[str] = field(default_factory=list)  # base tables and sequences
    views: list[str] = field(default_factory=list)
    routines: list[tuple[str, str]] = field(default_factory=list)  # (PROCEDURE|FUNCTION, name)
    events: list[str] = field(default_factory=list)


def _column(cur: pymysql.cursors.Cursor, sql: str, *params: object) -> list[str]:
    cur.execute(sql, params)
    return [str(r[0]) for r in cur.fetchall()]


def contents(conn: Conn, db: str) -> Contents:
    with conn.cursor() as cur:
        where = "WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s"
        tables = "SELECT TABLE_NAME FROM information_schema.TABLES " + where
        out = Contents(
            tables=_column(cur, tables + " AND TABLE_TYPE <> 'VIEW'", db, db),
            views=_column(cur, tables + " AND TABLE_TYPE = 'VIEW'", db, db),
            events=_column(
                cur,
                "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
                db,
            ),
        )
        cur.execute(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES "
            "WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION')",
            (db,),
        )
        out.routines = [(str(k), str(n)) for k, n in cur.fetchall()]
    return out


def _definer(text: str) -> str:
    user, at, host = text.rpartition("@")
    if not at:
        return quote_ident(text)
    return f"{quote_ident(user)}@{quote_ident(host)}"


def triggers(conn: Conn, db: str) -> list[Definition]:
    """``db``'s triggers in creation order (so the same order results)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, "
            "ACTION_STATEMENT, DEFINER, SQL_MODE FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = %s ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
            (db,),
        )
        rows = cur.fetchall()
    return [
        Definition(
            "TRIGGER",
            str(name),
            f"CREATE DEFINER={_definer(str(definer))} TRIGGER {quote_ident(str(name))} "
            f"{timing} {event} ON {quote_ident(str(table))} FOR EACH ROW {body}",
            sql_mode=str(mode),
        )
        for name, timing, event, table, body, definer, mode in rows
    ]


def _show_create(conn: Conn, db: str, kind: str, name: str) -> Definition:
    with conn.cursor() as cur:
        cur.execute(f"SHOW CREATE {kind} {quote_ident(db)}.{quote_ident(name)}")
        row = cur.fetchone()
    assert row is not None
    if kind == "VIEW":
        return Definition(kind, name, str(row[1]))
    if kind == "EVENT":
        return Definition(kind, name, str(row[3]), sql_mode=str(row[1]), time_zone=str(row[2]))
    return Definition(kind, name, str(row[2]), sql_mode=str(row[1]))


def definitions(conn: Conn, db: str, found: Contents) -> list[Definition]:
    """Views, routines and events of ``db``, in an order that can create them again."""
    out = [_show_create(conn, db, "VIEW", v) for v in found.views]
    out += [_show_create(conn, db, kind, name) for kind, name in found.routines]
    out += [_show_create(conn, db, "EVENT", e) for e in found.events]
    return out


def _renamed(sql: str, names: dict[str, str]) -> str:
    """``sql`` with the staging names of ``names`` (target -> staging) back to the targets'."""
    for target, staging in names.items():
        sql = sql.replace(quote_ident(staging) + ".", quote_ident(target) + ".")
    return sql


@contextmanager
def _session(conn: Conn) -> Iterator[pymysql.cursors.Cursor]:
    with conn.cursor() as cur:
        cur.execute("SELECT @@SESSION.sql_mode, @@SESSION.time_zone")
        saved = cur.fetchone()
        try:
            yield cur
        finally:
            if saved is not None:
                cur.execute("SET SESSION sql_mode = %s, time_zone = %s", saved)


def create_all(conn: Conn, defs: Sequence[tuple[str, Definition]], names: dict[str, str]) -> None:
    """Create each ``(database, definition)``; a view that needs a view not created yet
    (in any of the databases) is retried after the others."""
    pending = list(defs)
    with _session(conn) as cur:
        while pending:
            failed: list[tuple[tuple[str, Definition], pymysql.err.MySQLError]] = []
            for db, d in pending:
                conn.select_db(db)
                cur.execute("SET SESSION sql_mode = %s", (d.sql_mode,))
                if d.time_zone:
                    cur.execute("SET SESSION time_zone = %s", (d.time_zone,))
                try:
                    cur.execute(_renamed(d.sql, names))
                except pymysql.err.MySQLError as exc:
                    if d.kind != "VIEW":
                        raise
                    failed.append(((db, d), exc))
            if len(failed) == len(pending):
                raise failed[0][1]
            pending = [item for item, _ in failed]


@dataclass
class _Plan:
    staged: dict[str, Contents] = field(default_factory=dict)  # by target
    old: dict[str, Contents] = field(default_factory=dict)  # existing targets
    triggers: dict[str, list[Definition]] = field(default_factory=dict)
    others: dict[str, list[Definition]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    defaults: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


def _prepare(conn: Conn, staging: Staging, existing: Sequence[str]) -> _Plan:
    plan = _Plan()
    for target, stage in staging.names.items():
        plan.staged[target] = found = contents(conn, stage)
        plan.triggers[target] = triggers(conn, stage)
        plan.others[target] = definitions(conn, stage, found)
        plan.defaults[target] = _sequence_defaults(conn, stage)
        if target in existing:
            plan.old[target] = contents(conn, target)
    for target, stage in staging.names.items():
        for table, column, _ in plan.defaults[target]:
            _set_default(conn, stage, table, column, None)
    with conn.cursor() as cur:
        for target, stage in staging.names.items():
            for d in plan.triggers[target]:
                cur.execute(f"DROP TRIGGER {quote_ident(stage)}.{quote_ident(d.name)}")
            cur.execute(f"CREATE TABLE {quote_ident(stage)}.{MARKER_TABLE} (backup VARCHAR(255))")
            cur.execute(
                f"INSERT INTO {quote_ident(stage)}.{MARKER_TABLE} VALUES (%s)", (staging.backup,)
            )
    return plan


def _charset_of(cur: pymysql.cursors.Cursor, db: str) -> str:
    """``CHARACTER SET cs COLLATE co`` of ``db`` (a staging database: the backup's)."""
    cur.execute(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
        "information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        (db,),
    )
    row = cur.fetchone()
    assert row is not None
    return f"CHARACTER SET {row[0]} COLLATE {row[1]}"


def _create_targets(conn: Conn, staging: Staging, plan: _Plan) -> None:
    with conn.cursor() as cur:
        for target, stage in staging.names.items():
            if target not in plan.old:
                cur.execute(f"CREATE DATABASE {quote_ident(target)} {_charset_of(cur, stage)}")
                plan.created.append(target)


def _atomic_rename(
    conn: Conn, staging: Staging, plan: _Plan, run: str
) -> dict[str, list[tuple[str, str]]]:
    """The one ``RENAME TABLE``; returns, per target, what was moved aside (kind, name)."""
    moves: list[str] = []
    aside: dict[str, list[tuple[str, str]]] = {}
    for target, stage in staging.names.items():
        q_target, q_stage = quote_ident(target), quote_ident(stage)
        old = plan.old.get(target, Contents())
        olds = [("TABLE", t) for t in old.tables] + [("VIEW", v) for v in old.views]
        aside[target] = [(kind, f"dbseal_old_{run}_{i}") for i, (kind, _) in enumerate(olds)]
        moves += [
            f"{q_target}.{quote_ident(name)} TO {q_target}.{quote_ident(a)}"
            for (_, name), (_, a) in zip(olds, aside[target], strict=True)
        ]
        moves += [
            f"{q_stage}.{quote_ident(t)} TO {q_target}.{quote_ident(t)}"
            for t in [*plan.staged[target].tables, MARKER_TABLE]
        ]
    with conn.cursor() as cur:
        cur.execute("RENAME TABLE " + ", ".join(moves))
    return aside


def _finish(
    conn: Conn,
    staging: Staging,
    plan: _Plan,
    aside: dict[str, list[tuple[str, str]]],
    recharset: Sequence[str],
) -> None:
    names = staging.names
    for target in names:
        q = quote_ident(target)
        old = plan.old.get(target, Contents())
        with conn.cursor() as cur:
            for kind, name in aside[target]:
                cur.execute(f"DROP {kind} {q}.{quote_ident(name)}")
            for kind, r in old.routines:
                cur.execute(f"DROP {kind} IF EXISTS {q}.{quote_ident(r)}")
            for e in old.events:
                cur.execute(f"DROP EVENT IF EXISTS {q}.{quote_ident(e)}")
        create_all(conn, [(target, d) for d in plan.triggers[target]], names)
        for table, column, default in plan.defaults[target]:
            _set_default(conn, target, table, column, _renamed(default, names))
    # views may use other targets' views: every target's tables first, then these
    create_all(conn, [(t, d) for t in names for d in plan.others[t]], names)
    with conn.cursor() as cur:
        for target, stage in names.items():
            if target in recharset:
                cur.execute(f"ALTER DATABASE {quote_ident(target)} {_charset_of(cur, stage)}")
            cur.execute(f"DROP TABLE {quote_ident(target)}.{MARKER_TABLE}")


def _sequence_defaults(conn: Conn, db: str) -> list[tuple[str, str, str]]:
    """``(table, column, default)`` of ``db``'s columns whose default is a staging sequence's
    ``nextval()``: such a table cannot be opened once the sequence has moved, so these
    defaults are dropped before the swap and set again, pointing at the target, after it."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_DEFAULT "
            "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t "
            "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.TABLE_SCHEMA = %s AND t.TABLE_TYPE = 'BASE TABLE' "
            "AND c.COLUMN_DEFAULT LIKE %s",  # a view shows its table's default too
            (db, "%val(`" + STAGE_PREFIX.replace("_", "\\_") + "%"),
        )
        return [(str(t), str(c), str(d)) for t, c, d in cur.fetchall()]


def _set_default(conn: Conn, db: str, table: str, column: str, default: str | None) -> None:
    what = "DROP DEFAULT" if default is None else f"SET DEFAULT {default}"
    with conn.cursor() as cur:
        cur.execute(
            f"ALTER TABLE {quote_ident(db)}.{quote_ident(table)} "
            f"ALTER COLUMN {quote_ident(column)} {what}"
        )


def swap_in(
    conn: Conn, staging: Staging, existing: Sequence[str], recharset: Sequence[str] = ()
) -> None:
    """Move every staging database into its target (see the module text).

    ``existing``: the targets that exist (their old contents are removed); ``recharset``:
    existing targets that take the backup's character set and collation (``--replace``).
    Then drops the staging databases and the ledger. Raises :class:`SwapIncomplete` for
    a failure after the atomic step; any other exception means no target changed.
    """
    plan = _Plan()
    try:
        plan = _prepare(conn, staging, existing)
        _create_targets(conn, staging, plan)
        aside = _atomic_rename(conn, staging, plan, os.urandom(3).hex())
    except BaseException:
        with contextlib.suppress(pymysql.err.MySQLError), conn.cursor() as cur:
            for target in plan.created:
                cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(target)}")
        raise
    try:
        _finish(conn, staging, plan, aside, recharset)
        drop_staging(conn, staging)
    except pymysql.err.MySQLError as exc:
        raise SwapIncomplete(str(exc.args[-1])) from exc
    except BaseException as exc:  # Ctrl-C, SIGTERM: the window is not rolled back
        raise SwapIncomplete(f"interrupted ({type(exc).__name__})") from exc


def roll_back(conn: Conn, staging: Staging) -> None:
    """Drop the staging databases and the ledger, unless a target already carries this
    restore's marker (a swap whose answer was lost): then raise :class:`SwapIncomplete`."""
    for target in staging.names:
        if marked_target(conn, target) == staging.backup:
            raise SwapIncomplete(f"{target} already holds the new tables")
    drop_staging(conn, staging)


__all__ = ["SwapIncomplete", "roll_back", "swap_in"]
