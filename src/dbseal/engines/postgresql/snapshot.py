"""What a dump's snapshot holds: each table's row count, taken in the transaction that
exported the snapshot pg_dump then dumps (``pg_export_snapshot`` + ``pg_dump --snapshot``),
so the counts and the dump are of the same instant however busy the server is.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbseal.engines.postgresql.psql import Session, quote_ident

# ordinary tables and partitions (relkind r) outside the system schemas, not an extension's
TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
UNREADABLE_SQL = """
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'S', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT has_table_privilege(c.oid, 'SELECT')
ORDER BY 1 LIMIT 10
"""


@dataclass(frozen=True)
class TableCount:
    database: str
    schema: str
    table: str
    rows: int


def begin_snapshot(session: Session) -> str:
    session.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    return str(session.run("SELECT pg_export_snapshot()")[0][0])


def count_tables(session: Session, database: str) -> list[TableCount]:
    """Row counts of every table (one statement; in the session's snapshot when it has one)."""
    tables = [(str(r[0]), str(r[1])) for r in session.run(TABLES_SQL)]
    if not tables:
        return []
    parts = [
        f"SELECT {i}, count(*) FROM ONLY {quote_ident(s)}.{quote_ident(t)}"
        for i, (s, t) in enumerate(tables)
    ]
    counts = {int(str(r[0])): int(str(r[1])) for r in session.run(" UNION ALL ".join(parts))}
    return [TableCount(database, s, t, counts[i]) for i, (s, t) in enumerate(tables)]


def large_objects(session: Session) -> int:
    return int(str(session.run("SELECT count(*) FROM pg_largeobject_metadata")[0][0]))


def compare_counts(expected: list[TableCount], actual: list[TableCount]) -> list[str]:
    """What differs, one line each (empty: the same tables with the same counts)."""
    want = {(c.database, c.schema, c.table): c.rows for c in expected}
    have = {(c.database, c.schema, c.table): c.rows for c in actual}
    out = []
    for key in sorted(want.keys() | have.keys()):
        name = ".".join(key)
        if key not in have:
            out.append(f"table {name} is missing")
        elif key not in want:
            out.append(f"table {name} is not in the backup")
        elif want[key] != have[key]:
            out.append(f"table {name}: {have[key]} rows, the backup recorded {want[key]}")
    return out


__all__ = [
    "UNREADABLE_SQL",
    "TableCount",
    "begin_snapshot",
    "compare_counts",
    "count_tables",
    "large_objects",
]
