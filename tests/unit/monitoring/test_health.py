"""Judging a source's facts (pure): thresholds, edges, and the Nagios/Prometheus formats."""

from __future__ import annotations

import datetime
import re

from dbseal.monitoring.health import KeyUse, SourceFacts, evaluate_source, limit_text
from dbseal.monitoring.nagios import label, perf, status_line
from dbseal.monitoring.prometheus import Textfile
from dbseal.monitoring.status import CheckResult, Status, worst
from dbseal.monitoring.thresholds import DAY, HOUR, Thresholds

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC).timestamp()


def iso(hours_ago: float) -> str:
    return datetime.datetime.fromtimestamp(NOW - hours_ago * 3600, datetime.UTC).isoformat()


def backup(hours_ago: float, status: str = "ok") -> dict[str, object]:
    return {
        "id": f"b{hours_ago}",
        "status": status,
        "started": iso(hours_ago + 0.1),
        "ended": iso(hours_ago),
    }


def judged(f: SourceFacts, t: Thresholds | None = None) -> dict[str, CheckResult]:
    return {r.name: r for r in evaluate_source(f, t or Thresholds(), NOW, 365 * DAY)}


def test_backup_age_edges_are_exclusive() -> None:
    t = Thresholds()
    assert judged(SourceFacts("s", backup(26)), t)["backup"].status is Status.OK  # exactly 26h
    assert judged(SourceFacts("s", backup(26.01)), t)["backup"].status is Status.WARNING
    assert judged(SourceFacts("s", backup(50)), t)["backup"].status is Status.WARNING
    assert judged(SourceFacts("s", backup(50.01)), t)["backup"].status is Status.CRITICAL
    assert judged(SourceFacts("s", None), t)["backup"].status is Status.CRITICAL


def test_a_backup_without_a_readable_time_is_unknown_not_ok() -> None:
    got = judged(SourceFacts("s", {"id": "x", "status": "ok", "started": "yesterday"}))
    assert got["backup"].status is Status.UNKNOWN


def test_verify_and_restore() -> None:
    ok = {
        "backup_id": "b",
        "level": "restore",
        "result": "ok",
        "started": iso(1),
        "restore_s": 700.0,
    }
    t = Thresholds(rto_s=600)
    got = judged(SourceFacts("s", backup(2), last_verify=ok, last_restore=ok), t)
    assert got["verify"].status is Status.OK
    assert got["restore"].status is Status.CRITICAL and "over the rto 10m" in got["restore"].reason
    unreadable = {"backup_id": "b", "result": "unreadable"}
    assert (
        judged(SourceFacts("s", backup(2), last_verify=unreadable))["verify"].status
        is Status.CRITICAL
    )


def test_key_age_uses_the_oldest_key_and_the_configured_period() -> None:
    keys = [
        KeyUse("backup:2", NOW - 10 * DAY, "created"),
        KeyUse("old:1", NOW - 400 * DAY, "first used"),
    ]
    got = judged(SourceFacts("s", backup(1), keys=keys))["key"]
    assert got.status is Status.WARNING and got.reason.startswith("key old:1 first used 400d")
    assert (
        judged(SourceFacts("s", backup(1), keys=keys), Thresholds(key_rotation_s=500 * DAY))[
            "key"
        ].status
        is Status.OK
    )


def test_worst_puts_critical_above_unknown_above_warning() -> None:
    assert worst([Status.OK, Status.WARNING, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.CRITICAL]) is Status.CRITICAL
    assert worst([]) is Status.OK


def test_limits_read_as_written() -> None:
    assert [limit_text(x) for x in (26 * HOUR, 50 * HOUR, 8 * DAY, 600, 14 * DAY, 90)] == [
        "26h", "50h", "8d", "10m", "2w", "90s"
    ]  # fmt: skip


def test_nagios_perfdata_and_labels() -> None:
    assert label("db1:3306/shop crm", "backup_age") == "db1:3306/shop_crm_backup_age"
    assert perf("x", 12.25, "s", 10, 20) == "x=12.25s;10;20;0"
    assert perf("x", None, "s", 10) == "x=U;10;;0"
    line = status_line(
        Status.CRITICAL, [("shop", CheckResult("backup", Status.CRITICAL, "a | b"))], "", ["x=1"]
    )
    assert line == "DBSEAL CRITICAL - shop backup: a / b | x=1"  # no stray '|' in the text


def test_prometheus_labels_are_escaped_and_unknown_values_left_out() -> None:
    tf = Textfile()
    tf.add("dbseal_repository_up", {"repository": 's3://b/p"x\\y'}, 1)
    tf.add("dbseal_backup_last_size_bytes", {"source": "s", "method": "logical"}, None)
    text = tf.render()
    assert 'dbseal_repository_up{repository="s3://b/p\\"x\\\\y"} 1' in text
    assert "dbseal_backup_last_size_bytes" not in text
    assert re.search(r"^# TYPE dbseal_repository_up gauge$", text, re.M)
