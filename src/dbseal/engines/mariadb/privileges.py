"""Privileges whose absence makes mariadb-dump leave objects out *without any error*.

Checked against MariaDB 10.11: an account without the TRIGGER privilege on a database
gets a dump without that database's triggers, and one that cannot read routine
definitions (global SELECT, SELECT on ``mysql.proc``, or SHOW CREATE ROUTINE in 11.3+)
gets a dump without procedures and functions; in both cases mariadb-dump exits 0 and
writes its completion marker. (Missing SHOW VIEW or EVENT, by contrast, make it fail
with an error.) information_schema hides the same objects from the same account, so the
statistics cannot notice either: the privileges are checked before the dump instead, from
information_schema's privilege tables, and each gap becomes a warning.

Privileges that come from a role or a wildcard grant the check cannot resolve also
produce a warning: it errs on the side of saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pymysql

from dbseal.engines.mariadb.connect import Conn

_ROUTINE_GLOBAL = {"SELECT", "SHOW CREATE ROUTINE", "SHOW_ROUTINE"}


def _like(pattern: str) -> re.Pattern[str]:
    """A grant's database pattern (``%``, ``_``, backslash escapes) as a regex."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _grantees(conn: Conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        row = cur.fetchone()
        user, _, host = str(row[0] if row else "").rpartition("@")
        names = {f"'{user}'@'{host}'"}
        try:
            cur.execute("SELECT CURRENT_ROLE()")
            role = cur.fetchone()
        except pymysql.err.MySQLError:  # servers without roles
            role = None
        if role and role[0] and str(role[0]).upper() != "NONE":
            names.add(f"'{role[0]}'@''")
            names.add(f"'{role[0]}'@'%'")
    return names


def missing_privilege_warnings(conn: Conn, databases: Iterable[str]) -> list[str]:
    """One warning per database and object kind that mariadb-dump could silently leave out."""
    grantees = _grantees(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES")
        global_privs = {str(p) for g, p in cur.fetchall() if str(g) in grantees}
        cur.execute(
            "SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"
        )
        schema_privs = [(str(s), str(p)) for g, s, p in cur.fetchall() if str(g) in grantees]
        cur.execute(
            "SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES "
            "WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'proc'"
        )
        proc_privs = {str(p) for g, p in cur.fetchall() if str(g) in grantees}

    def has(db: str, wanted: set[str]) -> bool:
        if global_privs & wanted:
            return True
        return any(p in wanted and _like(s).match(db) for s, p in schema_privs)

    warnings = []
    for db in databases:
        if not has(db, {"TRIGGER"}):
            warnings.append(
                f"the account has no TRIGGER privilege on `{db}` that dbseal can see: "
                f"mariadb-dump would leave its triggers out without an error "
                f"(GRANT TRIGGER ON `{db}`.* to the backup account)"
            )
        if not (
            has(db, {"SHOW CREATE ROUTINE"})
            or has("mysql", _ROUTINE_GLOBAL)
            or "SELECT" in proc_privs
        ):
            warnings.append(
                f"the account cannot read routine definitions of `{db}` as far as dbseal can see: "
                f"mariadb-dump would leave procedures and functions out without an error "
                f"(GRANT SELECT ON mysql.proc to the backup account)"
            )
    return warnings
