"""Before a PostgreSQL backup moves any data: can we log in, which databases, is pg_dump new
enough (it refuses a newer server's major version), may the role read every table, and what
TLS the connection negotiated (``pg_stat_ssl``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql.psql import Session, quote_literal
from dbseal.engines.postgresql.snapshot import UNREADABLE_SQL
from dbseal.engines.postgresql.tools import tool, version_of
from dbseal.engines.postgresql.url import PGTarget
from dbseal.errors import DatabaseError, MissingPrivileges, PgClientTooOld

TLS_SQL = "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@dataclass(frozen=True)
class Preflight:
    databases: tuple[str, ...]
    sizes: dict[str, int]
    server_version: str
    server_version_num: int
    client_version: str
    tls: dict[str, Any] | None
    encodings: dict[str, dict[str, str]]  # database -> encoding, collate, ctype


def server_facts(session: Session) -> tuple[str, int, dict[str, Any] | None]:
    version, num = session.run(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int"
    )[0]
    row = session.run(TLS_SQL)
    tls = None
    if row and row[0][0] == "t":
        tls = {"version": row[0][1], "cipher": row[0][2], "bits": int(str(row[0][3]))}
    return str(version), int(str(num)), tls


def check_client(server_version_num: int, server_version: str) -> str:
    """pg_dump's version line; PgClientTooOld when its major is below the server's."""
    major, minor = version_of(tool("pg_dump"))
    server_major = server_version_num // 10000
    if major < server_major:
        raise PgClientTooOld(
            f"pg_dump {major}.{minor} cannot dump PostgreSQL {server_version} (a newer major "
            "version); nothing was dumped",
            hint=f"install the PostgreSQL {server_major} client tools (postgresql-client-{server_major}) "
            "or set DBSEAL_PG_BINDIR to their directory",
        )
    return f"pg_dump (PostgreSQL) {major}.{minor}"


def preflight(target: PGTarget, password: Secret | None) -> Preflight:
    first = target.databases[0] if target.databases else "postgres"
    with Session(target, password, first) as s:
        version, num, tls = server_facts(s)
        client = check_client(num, version)
        rows = s.run(
            "SELECT datname, pg_database_size(oid), pg_encoding_to_char(encoding), datcollate, "
            "datctype FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname"
        )
        sizes = {str(r[0]): int(str(r[1])) for r in rows}
        encodings = {
            str(r[0]): {"encoding": str(r[2]), "collate": str(r[3]), "ctype": str(r[4])}
            for r in rows
        }
        if target.databases:
            missing = [d for d in target.databases if d not in sizes]
            if missing:
                raise DatabaseError(
                    f"{target.describe()} has no database {', '.join(missing)}; nothing was dumped",
                    hint=f"it has: {', '.join(sorted(sizes))}",
                )
            dbs = target.databases
        else:
            dbs = tuple(d for d in sizes if d != "postgres") or ("postgres",)
        denied = [
            d
            for d in dbs
            if s.run(f"SELECT has_database_privilege({quote_literal(d)}, 'CONNECT')")[0][0] != "t"
        ]
        if denied:
            raise MissingPrivileges(
                f"role {target.user} may not connect to {', '.join(denied)}; nothing was dumped",
                hint=f"GRANT CONNECT ON DATABASE ... TO {target.user}, or leave them out of the URL",
            )
    for db in dbs:
        with Session(target, password, db) as s:
            unreadable = [str(r[0]) for r in s.run(UNREADABLE_SQL)]
        if unreadable:
            raise MissingPrivileges(
                f"role {target.user} may not read {db}: {', '.join(unreadable)}; nothing was dumped",
                hint=f"GRANT pg_read_all_data TO {target.user} (PostgreSQL 14+), or SELECT on those tables",
            )
    return Preflight(dbs, sizes, version, num, client, tls, {d: encodings[d] for d in dbs})


__all__ = ["Preflight", "check_client", "preflight", "server_facts"]
