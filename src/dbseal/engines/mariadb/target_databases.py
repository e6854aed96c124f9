"""What a restore target already holds, and the staging a restore applies into.

:class:`MysqlTargetDatabases` answers, for database names, whether each exists on the
target server and what it holds (tables, views, sequences, routines, events: the kinds a
dump creates; triggers belong to tables). Names are compared exactly, as the server
compares them: byte for byte when ``lower_case_table_names`` is 0, in lower case
otherwise. ``information_schema`` is queried with a plain equality (so the server reads
only that database's directory) plus a ``BINARY`` one (so ``Shop`` is not ``shop``).

It also runs a restore's staging (:mod:`dbseal.engines.mariadb.staging`): ``begin`` (the ledger),
``commit`` (the swap, :mod:`dbseal.engines.mariadb.swap`) or ``rollback``; ``leftovers`` and
``discard`` find and remove what a restore that could not clean up left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import pymysql

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.connect import Conn, connect
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.staging import (
    Leftover,
    Staging,
    begin_staging,
    discard_leftovers,
    find_leftovers,
    marked_target,
)
from dbseal.engines.mariadb.swap import roll_back, swap_in
from dbseal.errors import DatabaseError

_T = TypeVar("_T")

_KINDS = (
    ("table", "information_schema.TABLES", "TABLE_SCHEMA", "TABLE_TYPE"),
    ("routine", "information_schema.ROUTINES", "ROUTINE_SCHEMA", "ROUTINE_TYPE"),
    ("event", "information_schema.EVENTS", "EVENT_SCHEMA", "'EVENT'"),
)
_TYPE_NAMES = {"BASE TABLE": "table", "SYSTEM VERSIONED": "table", "VIEW": "view"}


@dataclass(frozen=True)
class DatabaseContents:
    """An existing database: how many objects of each kind it holds (empty: none)."""

    name: str
    objects: dict[str, int] = field(default_factory=dict)
    incomplete_of: str | None = None  # the backup of a restore that stopped mid-swap

    @property
    def empty(self) -> bool:
        return not any(self.objects.values())

    def describe(self) -> str:
        """``3 tables, 1 view`` (or ``nothing``)."""
        parts = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in self.objects.items() if n]
        return ", ".join(parts) or "nothing"


def _condition(column: str, folded: bool) -> str:
    return f"{column} = %s" if folded else f"{column} = %s AND BINARY {column} = %s"


def database_contents(conn: Conn, names: Sequence[str]) -> dict[str, DatabaseContents]:
    """The databases of ``names`` that exist on the server (others are left out)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@lower_case_table_names")
        row = cur.fetchone()
        folded = bool(row and int(row[0]))
        found: dict[str, DatabaseContents] = {}
        for name in names:
            key = name.lower() if folded else name
            params = (key,) if folded else (key, key)
            cur.execute(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE "
                + _condition("SCHEMA_NAME", folded),
                params,
            )
            if cur.fetchone() is None:
                continue
            objects: dict[str, int] = {}
            for _, table, column, kind in _KINDS:
                cur.execute(
                    f"SELECT {kind}, COUNT(*) FROM {table} WHERE {_condition(column, folded)} "
                    f"GROUP BY {kind}",
                    params,
                )
                for type_name, count in cur.fetchall():
                    label = _TYPE_NAMES.get(str(type_name), str(type_name).lower())
                    objects[label] = objects.get(label, 0) + int(count)
            found[name] = DatabaseContents(name, objects, marked_target(conn, name))
    return found


class MysqlTargetDatabases:
    """The restore target's side of ``ops.restore``'s checks (one short connection each)."""

    def __init__(self, target: MySQLTarget, password: Secret | None) -> None:
        self.target = target
        self._password = password

    def address(self) -> str:
        return self.target.address()

    @contextmanager
    def _conn(self, doing: str, hint: str | None = None) -> Iterator[Conn]:
        conn = connect(self.target, self._password)
        try:
            yield conn
        except pymysql.err.MySQLError as exc:
            raise DatabaseError(
                f"cannot {doing} on {self.target.address()}: {exc.args[-1]}", hint=hint
            ) from None
        finally:
            conn.close()

    def _run(self, doing: str, fn: Callable[[Conn], _T], hint: str | None = None) -> _T:
        with self._conn(doing, hint) as conn:
            return fn(conn)

    def existing(self, names: Sequence[str]) -> dict[str, DatabaseContents]:
        return self._run("list what the target holds", lambda c: database_contents(c, names))

    def leftovers(self, names: Sequence[str]) -> list[Leftover]:
        """Staging databases earlier restores into ``names`` could not remove."""
        return self._run("look for incomplete restores", lambda c: find_leftovers(c, names))

    def discard(self, leftovers: Sequence[Leftover]) -> None:
        self._run("remove what incomplete restores left", lambda c: discard_leftovers(c, leftovers))

    def begin(self, names: Sequence[str], backup: str) -> Staging:
        """Create the ledger of a restore into staging databases for ``names``."""
        return self._run(
            "create the restore's ledger database",
            lambda c: begin_staging(c, names, backup),
            hint="the account needs the CREATE privilege (a restore creates databases)",
        )

    def rollback(self, staging: Staging) -> None:
        """Drop the staging databases and the ledger (raises SwapIncomplete if the swap
        happened after all)."""
        self._run("drop the staging databases", lambda c: roll_back(c, staging))

    def commit(self, staging: Staging, existing: Sequence[str], recharset: Sequence[str]) -> None:
        """Move the staging databases into their targets, then drop them and the ledger."""

        self._run(
            "move the restored databases into place",
            lambda c: swap_in(c, staging, existing, recharset),
            hint="the message names what the server refused; nothing was moved into the targets",
        )


__all__ = ["DatabaseContents", "MysqlTargetDatabases", "database_contents"]
