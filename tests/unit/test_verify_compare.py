"""The restore check compares dump digests only between like versions, and says when it did not."""

from __future__ import annotations

import shutil

import pytest

from dbseal.cli.verify_commands import _human
from dbseal.engines.mariadb import tabledigest
from dbseal.engines.mariadb.stats import TableStat
from dbseal.engines.mariadb.verify_restore import _report, _with_digests
from dbseal.ops.verify import Verification

pytestmark = pytest.mark.skipif(
    not (shutil.which("mariadb-dump") or shutil.which("mysqldump")), reason="no dump client"
)


def test_another_server_version_compares_row_counts_and_says_why() -> None:
    manifest = {
        "client_version": "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server)",
        "server_version": "8.0.36",
    }
    expected = [TableStat("shop", "t", 3, 12345, tabledigest.METHOD)]
    counted = [TableStat("shop", "t", 3, None, "count")]
    found, note = _with_digests(
        manifest,
        counted,
        None,
        None,
        ["shop"],
        None,
        "10.11.19-MariaDB",  # type: ignore[arg-type]
    )
    assert found == counted and note is not None and "not compared" in note
    (row,) = _report(expected, found, note)
    assert row["ok"] is True and row["note"] == note
    v = Verification("B", "restore", "now", tables=[row])
    text = _human(v)
    assert "shop.t: 3 rows (expected 3, checksum not compared) ok" in text
    assert f"    note: {note}" in text
