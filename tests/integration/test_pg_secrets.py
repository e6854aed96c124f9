"""THE SECRET TEST for PostgreSQL: the role's password is never in the argv or the
environment of pg_dump, pg_dumpall, pg_restore or psql (only PGPASSFILE, the PATH of a 0600
file that is gone afterwards), and never in messages. The password is nasty (a colon, a
backslash, quotes, a space): the passfile's quoting is proven by logging in for real."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql.dump import PgDumpPolicy, PgDumpSource
from dbseal.engines.postgresql.restore import PgRestorePlan, PgRestoreSink
from dbseal.engines.postgresql.sandbox import PostgresSandbox
from dbseal.errors import DatabaseError


def _children() -> dict[int, tuple[bytes, bytes]]:
    """Every live descendant of this process: pid -> (cmdline, environ)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - mine
        mine |= frontier
    out = {}
    for pid in mine:
        try:
            out[pid] = (
                Path(f"/proc/{pid}/cmdline").read_bytes(),
                Path(f"/proc/{pid}/environ").read_bytes(),
            )
        except OSError:
            continue
    return out


@pytest.fixture
def nasty_role(postgres: PostgresSandbox) -> Iterator[tuple[str, str, str]]:
    tag = uuid.uuid4().hex[:8]
    role, db = f"sealer_{tag}", f"secret_{tag}"
    password = f"S3cr:et 'pw' \\ \"x\" {tag}"
    literal = password.replace("'", "''")
    postgres.sql(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{literal}'")
    postgres.sql(f"CREATE DATABASE {db} OWNER {role}")
    postgres.sql(
        f"SET ROLE {role}; CREATE TABLE big AS SELECT i, repeat(md5(i::text), 8) AS pad "
        "FROM generate_series(1, 120000) i",
        db,
    )
    yield role, db, password
    postgres.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    postgres.sql(f"DROP DATABASE IF EXISTS {db}_copy WITH (FORCE)")
    postgres.sql(f"DROP ROLE IF EXISTS {role}")


def test_the_password_never_reaches_a_child(
    postgres: PostgresSandbox, nasty_role: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    role, db, password = nasty_role
    monkeypatch.setenv("PGPASSWORD", password)  # must not reach any child either
    target = postgres.target(db, tcp=True, user=role)
    source = PgDumpSource(target, Secret(password.encode()), PgDumpPolicy(globals_=False))
    assert password not in repr(source.describe())
    sink = PgRestoreSink(
        PgRestorePlan(
            target.with_databases(()), Secret(password.encode()), {db: f"{db}_copy"}, jobs=1
        )
    )
    seen: dict[int, tuple[bytes, bytes]] = {}
    with source.start() as run:
        while chunk := run.read(1 << 20):
            sink.write(chunk)
            seen.update(_children())
        result = run.finish()
    sink.close()
    assert result.status == "ok", result.reasons
    names = {cmd.split(b"\0")[0].rsplit(b"/", 1)[-1] for cmd, _ in seen.values()}
    assert {b"pg_dump", b"pg_restore"} <= names, names
    passfiles = set()
    for cmdline, environ in seen.values():
        assert password.encode() not in cmdline and password.encode() not in environ
        assert b"PGPASSWORD=" not in environ
        passfiles |= {
            v[len(b"PGPASSFILE=") :] for v in environ.split(b"\0") if v.startswith(b"PGPASSFILE=")
        }
    assert passfiles and all(not Path(p.decode()).exists() for p in passfiles)
    assert postgres.sql("SELECT count(*) FROM big", f"{db}_copy") == [["120000"]]


def test_the_password_is_not_in_exceptions(
    postgres: PostgresSandbox, nasty_role: tuple[str, str, str]
) -> None:
    role, db, password = nasty_role
    almost = password[:-1] + "!"
    source = PgDumpSource(
        postgres.target(db, tcp=True, user=role), Secret(almost.encode()), PgDumpPolicy()
    )
    with pytest.raises(DatabaseError) as info:
        source.start()
    exc = info.value
    text = f"{exc.one_line()} {exc!r} {exc.args!r} {exc.__cause__!r} {exc.__context__!r}"
    assert almost not in text and password not in text
    assert f"refused the login of role {role}" in exc.message
