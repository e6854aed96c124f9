"""Standard error of the client programs: every line classified, bounded memory, no line lost."""

from __future__ import annotations

import os

import pytest

from dbseal.engines.mariadb import messages
from dbseal.engines.mariadb.messages import StderrCollector, classify


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b'mariadb-dump: Got error: 1142: "SELECT command denied" when using LOCK TABLES', "error"),
        (
            b"mariadb-dump: Couldn't execute 'show events': Access denied for user 'u'@'%' (1044)",
            "error",
        ),
        (
            b"mariadb-dump: Error 2013: Lost connection to server during query when dumping table `t`",
            "error",
        ),
        (b"ERROR 1064 (42000) at line 3: You have an error in your SQL syntax", "error"),
        (b"/usr/bin/mysqldump: Got error: 1045: Access denied", "error"),
        (b"mariadb-dump: Warning: Skipping the data of table mysql.event.", "warning"),
        (
            b"-- Warning: Skipping the data of table mysql.event. Specify the --events option",
            "warning",
        ),
        (
            b"mysqldump: [Warning] Using a password on the command line interface can be insecure.",
            "warning",
        ),
        (
            b"mariadb-dump: Deprecated program name. It will be removed in a future release",
            "warning",
        ),
        (b"something nobody expected", "warning"),
        (b"   ", None),
    ],
)
def test_classify(line: bytes, kind: str | None) -> None:
    assert classify(line) == kind


def test_collector_keeps_head_and_tail_and_counts_every_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(messages, "KEEP_HEAD", 1000)
    monkeypatch.setattr(messages, "KEEP_TAIL", 500)
    r, w = os.pipe()
    with os.fdopen(r, "rb") as reader:
        collector = StderrCollector(reader)
        with os.fdopen(w, "wb") as writer:
            writer.write(b"mariadb-dump: Warning: first\n")
            writer.write(b"filler line\n" * 2000)
            writer.write(b"mariadb-dump: Got error: 1146: in the middle\n")
            writer.write(b"filler line\n" * 2000)
            writer.write(b"mariadb-dump: Got error: 2013: at the end, no newline")
        data, summary = collector.finish()
    assert summary.errors == 2
    assert summary.first_errors[0].endswith("in the middle")
    assert summary.warnings == 1 + 4000  # unrecognised lines count as warnings
    assert summary.first_warnings[0] == "mariadb-dump: Warning: first"
    assert data.startswith(b"mariadb-dump: Warning: first\n")
    assert data.endswith(b"at the end, no newline")
    assert summary.dropped_bytes > 0
    assert b"bytes left out" in data
    assert len(data) < 1000 + 500 + 100
