"""PostgreSQL backups and restores as a user runs them: `dbseal backup --source postgresql://`,
`dbseal restore --target postgresql://`, `dbseal verify --level restore`, against servers the
suite starts itself (never the machine's own PostgreSQL)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from pgkit import AWKWARD_SCHEMA, contents

from conftest import DbsealUser
from dbseal.engines.postgresql.sandbox import PostgresSandbox


def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def awkward_db(postgres: PostgresSandbox) -> Any:
    db = f"awk_{tag()}"
    postgres.sql(f"CREATE DATABASE {db}")
    postgres.sql(AWKWARD_SCHEMA, db)
    yield db
    postgres.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def pw_file(user: DbsealUser, server: PostgresSandbox) -> Path:
    return user.secret_file(f"pg-{server.port}.pw", server.password_text)


def pg_backup(
    user: DbsealUser, repo: Path, server: PostgresSandbox, *dbs: str, extra: tuple[object, ...] = ()
) -> Any:
    return user.run(
        "backup",
        "--repo",
        repo,
        "--source",
        server.url(*dbs, tcp=True) + f"?sslmode=verify-full&sslrootcert={server.tls_files.ca_cert}",
        "--password-file",
        pw_file(user, server),
        *extra,
    )


def backup_id(stdout: str) -> str:
    m = re.match(r"backup (\S+) (ok|warnings): ", stdout)
    assert m, stdout
    return m.group(1)


def show(user: DbsealUser, repo: Path, bid: str) -> dict[str, Any]:
    out = user.run("show", "--repo", repo, bid, "--json").ok().stdout
    return json.loads(out)["manifest"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("jobs", [1, 2])
def test_backup_records_counts_tls_and_versions(
    user: DbsealUser, postgres: PostgresSandbox, awkward_db: str, jobs: int
) -> None:
    repo = user.init()
    res = pg_backup(user, repo, postgres, awkward_db, extra=("--pg-jobs", jobs)).ok()
    m = show(user, repo, backup_id(res.stdout))
    assert m["status"] == "ok", m["reasons"]
    assert m["databases"] == [awkward_db]
    counts = {(t["schema"], t["table"]): t["rows"] for t in m["tables"]}
    assert counts[("public", "kinds")] == 4
    assert counts[("public", "events_2023")] + counts[("public", "events_2024")] == 5000
    assert counts[("public", "audit")] == 1
    assert m["server_version"] == postgres.version
    assert m["tls"]["version"] in ("TLSv1.2", "TLSv1.3") and m["tls"]["cipher"]
    assert m["contents"]["format"] == ("custom" if jobs == 1 else "directory")
    assert m["contents"]["large_objects"] == {awkward_db: 1}
    assert m["source"]["engine"] == "postgresql"


def pg_restore(
    user: DbsealUser, repo: Path, bid: str, server: PostgresSandbox, *extra: object
) -> Any:
    return user.run(
        "restore",
        "--repo",
        repo,
        bid,
        "--target",
        server.url(tcp=True),
        "--target-password-file",
        pw_file(user, server),
        "-i",
        user.identity,
        *extra,
    )


@pytest.mark.parametrize(("backup_jobs", "restore_jobs"), [(1, 1), (1, 3), (2, 2)])
def test_round_trip_keeps_every_awkward_value(
    user: DbsealUser,
    postgres: PostgresSandbox,
    postgres_restore: PostgresSandbox,
    awkward_db: str,
    backup_jobs: int,
    restore_jobs: int,
) -> None:
    before = contents(postgres.sql, awkward_db)
    assert before["kinds"][0][4] == "00010200ff00" and before["large_object"]
    repo = user.init()
    bid = backup_id(
        pg_backup(user, repo, postgres, awkward_db, extra=("--pg-jobs", backup_jobs)).ok().stdout
    )
    new = f"copy_{tag()}"
    res = pg_restore(
        user,
        repo,
        bid,
        postgres_restore,
        "--rename-db",
        f"{awkward_db}={new}",
        "--jobs",
        restore_jobs,
    ).ok()
    assert f"created: {new}" in res.stdout
    assert contents(postgres_restore.sql, new) == before
    # the trigger still fires in the copy
    postgres_restore.sql("INSERT INTO kinds (id) VALUES (5)", new)
    assert postgres_restore.sql("SELECT max(kind_id) FROM audit", new) == [["5"]]
    assert not [
        d for d in postgres_restore.sql("SELECT datname FROM pg_database") if "stage" in str(d[0])
    ]


def test_named_source_from_dbseal_toml_with_a_sealed_password(
    user: DbsealUser, postgres: PostgresSandbox, awkward_db: str
) -> None:
    repo = user.init()
    user.run("secret", "set", "--repo", repo, "pg-db", "--value-file", pw_file(user, postgres)).ok()
    (user.home / "dbseal.toml").write_text(
        f"""\
repository = "{repo}"
identity_files = ["{user.identity}"]

[sources.pg]
url = "{postgres.url(awkward_db, tcp=True)}"
password_secret = "pg-db"
ssl_mode = "verify-identity"  # dbseal.toml names the modes as for MariaDB: verify-full
ssl_ca = "{postgres.tls_files.ca_cert}"

[sources.pg.postgresql]
jobs = 2
"""
    )
    out = json.loads(user.run("backup", "pg", "--json").ok().stdout)
    assert out["status"] == "ok"
    m = show(user, repo, out["id"])
    assert (
        m["name"] == "pg" and m["contents"]["format"] == "directory" and m["contents"]["jobs"] == 2
    )
    assert m["tls"]["version"].startswith("TLS")
    (user.home / "dbseal.toml").write_text(
        (user.home / "dbseal.toml").read_text().replace("jobs = 2", "jobs = 0")
    )
    line = user.run("backup", "pg").error(29)  # ConfigError, naming the key
    assert "jobs" in line


def test_several_databases_one_restored_by_name_and_roles_with_accounts(
    user: DbsealUser, postgres: PostgresSandbox, postgres_restore: PostgresSandbox
) -> None:
    t = tag()
    first, second, owner = f"one_{t}", f"two_{t}", f"app_{t}"
    postgres.sql(f"CREATE ROLE {owner} LOGIN PASSWORD 'app-secret-{t}'")
    for db in (first, second):
        postgres.sql(f"CREATE DATABASE {db}")
        postgres.sql(
            f"CREATE TABLE owned (x int); INSERT INTO owned VALUES (1), (2); "
            f"ALTER TABLE owned OWNER TO {owner}; GRANT SELECT ON owned TO PUBLIC",
            db,
        )
    try:
        repo = user.init()
        bid = backup_id(pg_backup(user, repo, postgres, first, second).ok().stdout)
        m = show(user, repo, bid)
        assert m["databases"] == [first, second]
        # only the second database, under the name the URL gives, with the backup's roles
        res = user.run(
            "restore",
            "--repo",
            repo,
            bid,
            "--target",
            postgres_restore.url(f"copy_{t}", tcp=True),
            "--target-password-file",
            pw_file(user, postgres_restore),
            "-i",
            user.identity,
            "--database",
            second,
            "--accounts",
        ).ok()
        assert f"created: copy_{t}" in res.stdout and f"roles created: {owner}" in res.stdout
        names = {str(r[0]) for r in postgres_restore.sql("SELECT datname FROM pg_database")}
        assert f"copy_{t}" in names and first not in names and second not in names
        assert postgres_restore.sql(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'owned'", f"copy_{t}"
        ) == [[owner]]
        # roles come without their password (no --pg-role-passwords): it cannot log in
        assert postgres_restore.sql(
            f"SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = '{owner}'"
        ) == [["t"]]
        # a database the backup does not hold is refused, naming what it holds
        line = user.run(
            "restore",
            "--repo",
            repo,
            bid,
            "--target",
            postgres_restore.url(tcp=True),
            "--target-password-file",
            pw_file(user, postgres_restore),
            "-i",
            user.identity,
            "--database",
            "nope",
        ).error(2)
        assert first in line and second in line
    finally:
        for db in (first, second):
            postgres.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        postgres.sql(f"DROP ROLE IF EXISTS {owner}")
        postgres_restore.sql(f"DROP DATABASE IF EXISTS copy_{t} WITH (FORCE)")
        postgres_restore.sql(f"DROP ROLE IF EXISTS {owner}")


def test_restored_database_keeps_its_encoding_and_locale(
    user: DbsealUser, postgres: PostgresSandbox, postgres_restore: PostgresSandbox
) -> None:
    db, new = f"latin_{tag()}", f"latin_copy_{tag()}"
    postgres.sql(
        f"CREATE DATABASE {db} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    )
    try:
        postgres.sql("CREATE TABLE t (s text); INSERT INTO t VALUES ('Grüße, ça va')", db)
        repo = user.init()
        bid = backup_id(pg_backup(user, repo, postgres, db).ok().stdout)
        pg_restore(user, repo, bid, postgres_restore, "--rename-db", f"{db}={new}").ok()
        enc = "SELECT pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = "
        assert postgres_restore.sql(f"{enc}'{new}'") == [["LATIN1", "C"]]
        assert postgres_restore.sql("SELECT s FROM t", new) == [["Grüße, ça va"]]
    finally:
        postgres.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        postgres_restore.sql(f"DROP DATABASE IF EXISTS {new} WITH (FORCE)")
