"""`dbseal restore` with and without --datadir: which options go together (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.clikit import Runner


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ((), "--target mysql://USER@HOST"),
        (("--datadir", "D", "--target", "mysql://root@127.0.0.1"), "--target cannot be used with --datadir"),
        (("--datadir", "D", "--rename-db", "a=b", "--replace"), "--rename-db, --replace cannot"),
        (("--target", "mysql://root@127.0.0.1", "--key-file", "k"), "--key-file are for a physical"),
        (("--datadir", "D", "--prepare-memory", "lots"), "--prepare-memory: not a size"),
    ],
)  # fmt: skip
def test_restore_refuses_options_that_do_not_go_together(
    dbseal: Runner, tmp_path: Path, extra: tuple[str, ...], says: str
) -> None:
    (tmp_path / "repo").mkdir()
    res = dbseal("restore", "--repo", str(tmp_path / "repo"), "latest", *extra)
    assert says in res.assert_error(2)
    assert not (tmp_path / "D").exists()


def test_restore_help_names_the_physical_options(dbseal: Runner) -> None:
    out = dbseal("restore", "--help").out
    for flag in ("--datadir", "--prepare-memory", "--user", "--key-file", "--key-dir"):
        assert flag in out
