"""Source names of backups, including manifests written before `source_name` existed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbseal.catalog.repository import RepoConfig, Repository
from dbseal.catalog.source_names import derive_source_name, source_name, split_ref
from dbseal.errors import AmbiguousLatest, BackupNotFound, UsageError
from dbseal.storage import open_backend


def test_derived_names_follow_the_documented_rule() -> None:
    tcp = {"host": "db1.example.com", "port": 3306, "databases": ["shop", "crm"]}
    assert derive_source_name(tcp) == "db1.example.com:3306/shop,crm"
    assert derive_source_name({"host": "::1", "port": 3307, "databases": []}) == "[::1]:3307"
    sock = {"host": None, "socket": "/run/mysqld/mysqld.sock", "databases": ["shop"]}
    assert derive_source_name(sock) == "localhost/shop"
    assert derive_source_name({}) == "-"


def test_old_manifests_get_a_name_from_what_they_recorded() -> None:
    assert source_name({"source_name": "shop", "name": "x"}) == "shop"
    assert source_name({"name": "prod"}) == "prod"  # a named source, before source_name
    assert source_name({"source": {"host": "h", "port": 1, "databases": ["a"]}}) == "h:1/a"
    assert source_name({"id": "damaged"}) == "-"


def test_references() -> None:
    assert split_ref("shop:latest") == ("shop", "latest")
    assert split_ref("h:3306/shop:latest") == ("h:3306/shop", "latest")
    assert split_ref("latest") == (None, "latest")
    assert split_ref("20260101T000000Z-0011aabb") == (None, "20260101T000000Z-0011aabb")


def _repo(tmp_path: Path, manifests: list[dict[str, object]]) -> Repository:
    repo = Repository.create(open_backend(str(tmp_path / "r")), RepoConfig("00", "now"))
    for m in manifests:
        doc = {"dbseal_manifest": 1, "status": "ok", **m}
        (tmp_path / "r" / "manifests" / f"{m['id']}.json").write_text(json.dumps(doc))
        (tmp_path / "r" / "envelopes" / f"{m['id']}.env").write_bytes(b"e")
    return repo


def test_latest_per_source_with_old_and_new_manifests(tmp_path: Path) -> None:
    old = {"host": "db1", "port": 3306, "databases": ["shop"]}
    repo = _repo(
        tmp_path,
        [
            {"id": "20260101T000000Z-00000001", "started": "2026-01-01", "source": old},
            {"id": "20260102T000000Z-00000002", "started": "2026-01-02", "source_name": "crm"},
        ],
    )
    assert repo.latest_by_source() == {
        "db1:3306/shop": "20260101T000000Z-00000001",
        "crm": "20260102T000000Z-00000002",
    }
    with pytest.raises(AmbiguousLatest, match=r"crm:latest, db1:3306/shop:latest") as exc:
        repo.resolve("latest")
    assert exc.value.exit_code == 36
    assert repo.resolve("db1:3306/shop:latest") == "20260101T000000Z-00000001"
    assert repo.resolve("latest", "crm") == "20260102T000000Z-00000002"
    with pytest.raises(BackupNotFound, match="no successful backup of source 'web'"):
        repo.resolve("web:latest")
    with pytest.raises(UsageError, match="is of source 'crm', not 'db1:3306/shop'"):
        repo.resolve("20260102T000000Z", "db1:3306/shop")


def test_bare_latest_in_a_single_source_repository(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        [
            {"id": "20260101T000000Z-00000001", "started": "2026-01-01", "source_name": "a"},
            {"id": "20260102T000000Z-00000002", "started": "2026-01-02", "source_name": "a"},
        ],
    )
    assert repo.resolve("latest") == "20260102T000000Z-00000002"
