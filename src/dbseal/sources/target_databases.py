"""What a restore target already holds, and dropping databases a restore replaces.

:class:`MysqlTargetDatabases` answers, for database names, whether each exists on the
target server and what it holds (tables, views, sequences, routines, events: the kinds a
dump creates; triggers belong to tables). Names are compared exactly, as the server
compares them: byte for byte when ``lower_case_table_names`` is 0, in lower case
otherwise. ``information_schema`` is queried with a plain equality (so the server reads
only that database's directory) plus a ``BINARY`` one (so ``Shop`` is not ``shop``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pymysql

from dbseal.crypto.secret import Secret
from dbseal.errors import DatabaseError
from dbseal.sources.connect import Conn, connect, quote_ident
from dbseal.sources.mysql_url import MySQLTarget

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
            found[name] = DatabaseContents(name, objects)
    return found


class MysqlTargetDatabases:
    """The restore target's side of ``ops.restore``'s checks (one short connection each)."""

    def __init__(self, target: MySQLTarget, password: Secret | None) -> None:
        self.target = target
        self._password = password

    def address(self) -> str:
        return self.target.address()

    def existing(self, names: Sequence[str]) -> dict[str, DatabaseContents]:
        conn = connect(self.target, self._password)
        try:
            return database_contents(conn, names)
        except pymysql.err.MySQLError as exc:
            raise DatabaseError(
                f"cannot list what {self.target.address()} holds: {exc.args[-1]}"
            ) from None
        finally:
            conn.close()

    def drop(self, names: Sequence[str]) -> None:
        """``DROP DATABASE`` each of ``names`` (the restore's dump creates them again)."""
        conn = connect(self.target, self._password)
        try:
            with conn.cursor() as cur:
                for name in names:
                    cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        except pymysql.err.MySQLError as exc:
            raise DatabaseError(
                f"cannot drop the databases to replace on {self.target.address()}: {exc.args[-1]}",
                hint="the account needs the DROP privilege on them",
            ) from None
        finally:
            conn.close()


__all__ = ["DatabaseContents", "MysqlTargetDatabases", "database_contents"]
