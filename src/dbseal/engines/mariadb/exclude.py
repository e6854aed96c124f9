"""``--exclude-database PATTERN`` and ``--exclude-table DB.TABLE``: what a backup leaves out.

Patterns are shell-style (``*``, ``?``, ``[...]``), case-sensitive, matched against the
names the server reports; a table pattern is ``DB.TABLE`` split at its first dot, each
side a pattern (``shop.tmp_*``, ``*.cache``). A pattern that matches nothing is a
usage error (a typo must not leave a backup bigger than meant, silently).

Excluded tables (and views and sequences) are passed to mariadb-dump as
``--ignore-table=db.t``, and left out of the statistics a restore is compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from dbseal.engines.mariadb.connect import Conn
from dbseal.errors import UsageError


@dataclass(frozen=True)
class Exclusions:
    """The patterns, and what they matched on the server."""

    database_patterns: tuple[str, ...] = ()
    table_patterns: tuple[str, ...] = ()
    databases: tuple[str, ...] = ()
    tables: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def manifest(self) -> dict[str, list[str]]:
        return {
            "exclude_patterns": [*self.database_patterns, *self.table_patterns],
            "excluded_databases": list(self.databases),
            "excluded_tables": sorted(f"{d}.{t}" for d, t in self.tables),
        }

    def dump_options(self) -> list[str]:
        return [f"--ignore-table={d}.{t}" for d, t in sorted(self.tables)]


def _split(pattern: str) -> tuple[str, str]:
    db, dot, table = pattern.partition(".")
    if not dot or not db or not table:
        raise UsageError(
            f"invalid --exclude-table {pattern!r}", hint="write DB.TABLE; * and ? match any name"
        )
    return db, table


def resolve(
    conn: Conn,
    databases: Sequence[str],
    database_patterns: Sequence[str],
    table_patterns: Sequence[str],
) -> tuple[tuple[str, ...], Exclusions]:
    """The databases left to dump, and what the patterns exclude (checked against the server)."""
    split = [_split(p) for p in table_patterns]
    dropped = [d for d in databases if any(fnmatchcase(d, p) for p in database_patterns)]
    unused = [p for p in database_patterns if not any(fnmatchcase(d, p) for d in databases)]
    kept = tuple(d for d in databases if d not in dropped)
    tables: set[tuple[str, str]] = set()
    used: set[str] = set()
    if split and kept:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA IN %s",
                (kept,),
            )
            for db, table in cur.fetchall():
                for pattern, (pd, pt) in zip(table_patterns, split, strict=True):
                    if fnmatchcase(str(db), pd) and fnmatchcase(str(table), pt):
                        tables.add((str(db), str(table)))
                        used.add(pattern)
    unused += [p for p in table_patterns if p not in used]
    if unused:
        raise UsageError(
            f"--exclude pattern(s) {', '.join(unused)} match nothing on the server; nothing was dumped",
            hint="check the names (patterns are case-sensitive; a table pattern is DB.TABLE)",
        )
    if not kept:
        raise UsageError(
            "every database is excluded; nothing was dumped", hint="drop an --exclude-database"
        )
    return kept, Exclusions(
        tuple(database_patterns), tuple(table_patterns), tuple(dropped), frozenset(tables)
    )
