"""Backup chains (full + incrementals): followed, refused when broken, never `latest` then."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dbseal.catalog.chains import chain_ids, chain_of, chain_problem, newest_base
from dbseal.catalog.repository import RepoConfig, Repository
from dbseal.errors import ChainBroken
from dbseal.storage import open_backend

FULL = "20260101T000000Z-00000001"
INC1 = "20260102T000000Z-00000002"
INC2 = "20260103T000000Z-00000003"


def _m(bid: str, day: int, parent: str | None, lsn: tuple[int, int], **kw: Any) -> dict[str, Any]:
    return {
        "id": bid,
        "started": f"2026-01-0{day}",
        "source_name": "db",
        "method": "physical",
        "type": "incremental" if parent else "full",
        "parent": parent,
        "from_lsn": lsn[0],
        "to_lsn": lsn[1],
        **kw,
    }


def _repo(tmp_path: Path, manifests: list[dict[str, Any]]) -> Repository:
    repo = Repository.create(open_backend(str(tmp_path / "r")), RepoConfig("00", "now"))
    for m in manifests:
        doc = {"dbseal_manifest": 1, "status": "ok", **m}
        (tmp_path / "r" / "manifests" / f"{m['id']}.json").write_text(json.dumps(doc))
        (tmp_path / "r" / "envelopes" / f"{m['id']}.env").write_bytes(b"e")
    return repo


def _chain(**inc1: Any) -> list[dict[str, Any]]:
    return [
        _m(FULL, 1, None, (0, 100)),
        _m(INC1, 2, FULL, (100, 200), **inc1),
        _m(INC2, 3, INC1, (200, 300)),
    ]


def test_a_whole_chain_is_followed_full_first(tmp_path: Path) -> None:
    repo = _repo(tmp_path, _chain())
    assert [m["id"] for m in chain_of(repo, INC2)] == [FULL, INC1, INC2]
    assert [m["id"] for m in chain_of(repo, FULL)] == [FULL]
    assert repo.latest_by_source() == {"db": INC2}
    base = newest_base(repo, "db")
    assert base is not None and base["id"] == INC2


def test_a_missing_member_is_named(tmp_path: Path) -> None:
    repo = _repo(tmp_path, [m for m in _chain() if m["id"] != INC1])
    with pytest.raises(ChainBroken, match=rf"chain member {INC1} .*is missing"):
        chain_of(repo, INC2)
    lookup = {m["id"]: m for m in repo.manifests()}
    assert "missing" in (chain_problem(lookup, INC2) or "")
    assert chain_ids(lookup, INC2) == [INC1, INC2]
    # the broken incremental is never `latest`, nor the base of the next incremental
    assert repo.latest_by_source() == {"db": FULL}
    base = newest_base(repo, "db")
    assert base is not None and base["id"] == FULL


def test_a_failed_member_is_named(tmp_path: Path) -> None:
    repo = _repo(tmp_path, _chain(status="failed"))
    with pytest.raises(ChainBroken, match=f"chain member {INC1} is failed"):
        chain_of(repo, INC2)
    assert repo.latest_by_source() == {"db": FULL}


def test_an_lsn_gap_is_refused(tmp_path: Path) -> None:
    chain = _chain()
    chain[2]["from_lsn"] = 250  # INC2 does not start where INC1 ends
    repo = _repo(tmp_path, chain)
    with pytest.raises(ChainBroken, match=r"starts at LSN 250 but its parent .* ends at LSN 200"):
        chain_of(repo, INC2)
    assert chain_problem({m["id"]: m for m in repo.manifests()}, INC1) is None


def test_logical_backups_are_chains_of_one(tmp_path: Path) -> None:
    repo = _repo(tmp_path, [{"id": FULL, "started": "2026-01-01", "source_name": "db"}])
    assert [m["id"] for m in chain_of(repo, FULL)] == [FULL]
    assert newest_base(repo, "db") is None  # no physical backup to build on
