"""The event record, redaction, ping URLs and the -v text lines."""

from __future__ import annotations

import io
import json

from dbseal.monitoring.eventlog import EventRecorder
from dbseal.monitoring.pings import ping_url
from dbseal.monitoring.redact import redact_text, url_host, url_without_credentials
from dbseal.monitoring.textevents import TextEventsReporter


def test_url_passwords_are_redacted_anywhere_in_a_message() -> None:
    text = "cannot reach mysql://backup:s3cr3t@db1:3306/shop nor s3://AK:SK/x@bucket/p"
    out = redact_text(text)
    assert "s3cr3t" not in out and "mysql://backup:***@db1:3306/shop" in out
    assert redact_text("mysql://backup@db1/shop and http://x/a:b") == (
        "mysql://backup@db1/shop and http://x/a:b"  # no password: unchanged
    )
    assert url_without_credentials("s3://key:secret@bucket/prefix") == "s3://bucket/prefix"
    assert url_without_credentials("/var/backups/repo") == "/var/backups/repo"
    assert url_host("https://hc-ping.com/0b3f-uuid?x=1") == "hc-ping.com"


def test_ping_urls() -> None:
    assert ping_url("https://hc-ping.com/u", "start") == "https://hc-ping.com/u/start"
    assert ping_url("https://hc-ping.com/u/", "fail") == "https://hc-ping.com/u/fail"
    assert ping_url("https://h/p/u?rid=1", "fail") == "https://h/p/u/fail?rid=1"
    assert ping_url("https://h/u", "") == "https://h/u"


def test_record_fields_detail_and_summary_facts() -> None:
    rec = EventRecorder("backup")
    lines: list[str] = []
    rec.sinks.append(lambda _r, line: lines.append(line))
    rec.event("backup.start", id="B1", label="backup B1", expected_bytes=None)
    rec.event("progress", bytes=4096)  # not a line; counted
    rec.event("storage.retry", op="put", attempt=1, delay=0.5, error="http://u:pw@h/ refused")
    rec.event("backup.end", id="B1", status="ok", source="shop", bytes=1000, raw_bytes=4096)
    docs = [json.loads(x) for x in lines]
    assert [d["seq"] for d in docs] == [1, 2, 3]
    assert docs[0]["backup_id"] == "B1" and docs[0]["detail"] == {"label": "backup B1"}
    assert "expected_bytes" not in json.dumps(docs[0])  # None is left out, never null
    assert docs[1]["error"] == "http://u:***@h/ refused" and docs[1]["detail"]["op"] == "put"
    assert docs[2]["status"] == "ok" and docs[2]["bytes"] == 1000
    assert (rec.backup_ids, rec.source, rec.summary_bytes) == (["B1"], "shop", 1000)
    assert list(rec.tail) == lines


def test_verbose_lines_and_progress_only_from_vv() -> None:
    one, two = io.StringIO(), io.StringIO()
    for stream, level in ((one, 1), (two, 2)):
        r = TextEventsReporter(stream, level)
        r.event("backup.start", id="B1", expected_bytes=3 << 20)
        r.event("progress", bytes=1)
        r.event("progress", bytes=2)  # within 64 MiB of the last one shown
    assert "backup.start id=B1 expected_bytes=3.0 MiB" in one.getvalue()
    assert "progress" not in one.getvalue()
    assert two.getvalue().count("progress") == 1


def test_a_full_disk_under_the_event_log_never_raises(tmp_path) -> None:
    import pytest

    from dbseal.monitoring.eventlog import AppendFile

    if not __import__("os").path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    log = AppendFile("/dev/full")
    rec = EventRecorder("backup")
    rec.sinks.append(lambda _r, line: log.write(line))
    rec.event("backup.start", id="B1")  # ENOSPC: dropped, the backup goes on
    rec.event("backup.end", id="B1")
    assert log.problem and "space" in log.problem.lower()
    log.close()
