"""Many sources in one repository: each backup carries its source name.

Two named sources of a dbseal.toml back up into one repository. A bare `latest` is then
ambiguous and refused with the choices; `NAME:latest` and `--source NAME` pick the
newest good backup of one source, for restore, show and verify; `list` shows and
filters by source and database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import DbsealUser, databases_on, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb


@pytest.fixture
def two_dbs(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:8]
    shop, crm = f"dbsrc_shop_{tag}", f"dbsrc_crm_{tag}"
    for db, rows in ((shop, 3), (crm, 5)):
        scratch_dbs.append(db)
        run_sql(
            mariadb,
            f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)",
            f"INSERT INTO `{db}`.t SELECT seq FROM `{db}`.seq_1_to_{rows}",
        )
    yield shop, crm


def _config(user: DbsealUser, repo: Path, server: MariaDBSandbox, shop: str, crm: str) -> None:
    sources = "".join(
        f"""
[sources.{name}]
url = "mysql://root@127.0.0.1:{server.port}/{db}"
password_file = "{user.password_file(server)}"
ssl_ca = "{server.ca_cert}"
ssl_mode = "verify-identity"
"""
        for name, db in (("shop", shop), ("crm", crm))
    )
    text = f'repository = "{repo}"\nidentity_files = ["{user.identity}"]\n' + sources
    (user.home / "dbseal.toml").write_text(text)


def _backup(user: DbsealUser, name: str) -> str:
    return user.run("backup", name).ok().stdout.split()[1]


def test_two_named_sources_in_one_repository(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    two_dbs: tuple[str, str],
    scratch_dbs: list[str],
) -> None:
    shop, crm = two_dbs
    repo = user.init("repo")
    _config(user, repo, mariadb, shop, crm)
    shop_old = _backup(user, "shop")
    shop_new = _backup(user, "shop")
    crm_only = _backup(user, "crm")  # the repository's newest backup is crm's

    listing = user.listing(repo)
    sources = {b["id"]: b["source_name"] for b in listing["backups"]}
    assert sources == {shop_old: "shop", shop_new: "shop", crm_only: "crm"}
    assert listing["latest"] is None
    assert listing["latest_by_source"] == {"shop": shop_new, "crm": crm_only}
    human = user.run("list").ok().stdout
    assert "SOURCE" in human.splitlines()[0]
    only_shop = user.run("list", "--source", "shop", "--json").ok().json()
    assert sorted(b["id"] for b in only_shop["backups"]) == sorted([shop_old, shop_new])
    by_db = user.run("list", "--database", crm, "--json").ok().json()
    assert [b["id"] for b in by_db["backups"]] == [crm_only]

    refused = user.restore(repo, "latest", mariadb_restore).error(36)
    assert "shop:latest" in refused and "crm:latest" in refused
    assert user.run("show", "latest").error(36)
    assert user.run("verify", "--repo", repo, "-i", user.identity).rc == 36

    assert user.show(repo, "shop:latest")["manifest"]["id"] == shop_new
    shown = user.run("show", "latest", "--source", "crm", "--json").ok().json()
    assert shown["manifest"]["id"] == crm_only
    verified = user.run("verify", "shop:latest", "--json").ok().json()
    assert [v["backup_id"] for v in verified] == [shop_new]

    scratch_dbs.extend([shop, crm])
    user.restore(repo, "shop:latest", mariadb_restore).ok()
    assert shop in databases_on(mariadb_restore) and crm not in databases_on(mariadb_restore)
    user.restore(repo, "latest", mariadb_restore, "--source", "crm").ok()
    assert fetch(mariadb_restore, f"SELECT COUNT(*) FROM `{crm}`.t") == [(5,)]

    wrong = user.run("show", shop_new, "--source", "crm").error(2)
    assert "shop" in wrong

    escrow = user.run("keygen", "-o", user.home / "escrow.key").ok().stdout.strip()
    rewrapped = user.run("rewrap", "--all", "--source", "crm", "--to", escrow).ok().stdout
    assert f"{crm_only}: rewrapped" in rewrapped and shop_new not in rewrapped


def test_backups_by_url_get_a_derived_source_name(
    user: DbsealUser, mariadb: MariaDBSandbox, two_dbs: tuple[str, str]
) -> None:
    shop, crm = two_dbs
    repo = user.init("repo")
    first = user.good_backup(repo, mariadb, shop)
    assert user.listing(repo)["latest"] == first  # one source: bare `latest` works
    second = user.good_backup(repo, mariadb, crm)
    names = {b["id"]: b["source_name"] for b in user.listing(repo)["backups"]}
    assert names == {
        first: f"127.0.0.1:{mariadb.port}/{shop}",
        second: f"127.0.0.1:{mariadb.port}/{crm}",
    }
    line = user.run("show", "--repo", repo, "latest").error(36)
    assert f"127.0.0.1:{mariadb.port}/{shop}:latest" in line
    shown = user.run("show", "--repo", repo, f"127.0.0.1:{mariadb.port}/{shop}:latest", "--json")
    assert shown.ok().json()["manifest"]["id"] == first
