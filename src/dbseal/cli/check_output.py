"""What `dbseal check` shows: the table, the Nagios line and the Prometheus textfile."""

from __future__ import annotations

from dbseal.monitoring.health import duration_text
from dbseal.monitoring.nagios import label, perf, status_line
from dbseal.monitoring.prometheus import Textfile
from dbseal.monitoring.status import CheckResult, Status, worst
from dbseal.ops.check import HealthReport, SourceHealth

_SEVERITY = {Status.CRITICAL: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.OK: 3}


def _shown(r: CheckResult) -> str:
    return r.status.name if r.configured else "-"


def table(report: HealthReport) -> str:
    """Per-source rows, one per check, and a summary line."""
    repo = report.repository_result
    rows = [("repository", "repository", _shown(repo), repo.reason)]
    for s in report.sources:
        for i, r in enumerate(s.results):
            rows.append((s.name if i == 0 else "", r.name, _shown(r), r.reason))
    head = ("SOURCE", "CHECK", "STATUS", "REASON")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(3)]
    lines = []
    for row in [head, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    lines += [f"note: {n}" for n in report.notes]
    lines.append(summary(report))
    return "\n".join(lines)


def summary(report: HealthReport) -> str:
    results = [report.repository_result, *(r for s in report.sources for r in s.results)]
    counts = {st: sum(1 for r in results if r.configured and r.status is st) for st in Status}
    idle = sum(1 for r in results if not r.configured)
    parts = [f"{n} {st.name}" for st, n in counts.items() if n]
    bad = [s.name for s in report.sources if s.status is not Status.OK]
    text = (
        f"{report.status.name}: {len(report.sources)} source(s)"
        + (f" ({', '.join(bad)} not OK)" if bad else "")
        + f"; checks: {', '.join(parts)}"
        + (f", {idle} not configured" if idle else "")
    )
    if not report.sources:
        text += "; nothing to check (no backups, no [sources] in dbseal.toml)"
    return "summary: " + text


def problems(report: HealthReport) -> list[tuple[str, CheckResult]]:
    found = []
    if report.repository_result.status is not Status.OK:
        found.append(("repository", report.repository_result))
    for s in report.sources:
        found += [(s.name, r) for r in s.results if r.status is not Status.OK]
    return sorted(found, key=lambda p: _SEVERITY[p[1].status])


def _source_perfdata(s: SourceHealth) -> list[str]:
    t, m = s.thresholds, s.metrics()
    out = [
        perf(
            label(s.name, "backup_age"),
            s.result("backup").facts.get("age_s"),
            "s",
            t.max_age_warning_s,
            t.max_age_critical_s,
        ),
        perf(label(s.name, "backup_size"), m.get("last_size_bytes"), "B"),
        perf(label(s.name, "failed"), m.get("failed_since_success"), "", 1, t.failed_critical),
        perf(
            label(s.name, "verify_age"),
            s.result("verify").facts.get("age_s"),
            "s",
            t.verify_max_age_s,
        ),
    ]
    restore = s.result("restore")
    if restore.configured:
        out.append(
            perf(
                label(s.name, "restore_time"),
                m.get("verify_last_restore_duration_s"),
                "s",
                None,
                t.rto_s,
            )
        )
    key = s.result("key")
    if key.configured:
        out.append(
            perf(label(s.name, "key_age"), key.facts.get("age_s"), "s", key.facts.get("rotation_s"))
        )
    return out


def nagios(report: HealthReport) -> tuple[str, int]:
    """The status line and the plugin exit status."""
    if not report.reachable:
        return f"DBSEAL UNKNOWN - {report.repository_result.reason}", int(Status.UNKNOWN)
    if not report.sources:
        text = "nothing to check: no backups in the repository and no [sources] in dbseal.toml"
        return f"DBSEAL UNKNOWN - {text}", int(Status.UNKNOWN)
    found = problems(report)
    status = worst(r.status for _who, r in found) if found else Status.OK
    ages = [
        f"{s.name} {duration_text(float(s.result('backup').facts.get('age_s') or 0))} old"
        for s in report.sources
    ]
    ok_text = f"{len(report.sources)} source(s) OK: newest good backups " + ", ".join(ages)
    perfdata = [p for s in report.sources for p in _source_perfdata(s)]
    return status_line(status, found, ok_text, perfdata), int(status)


def prometheus(report: HealthReport) -> str:
    tf = Textfile()
    tf.add("dbseal_repository_up", {"repository": report.repository}, 1 if report.reachable else 0)
    tf.add("dbseal_check_run_timestamp_seconds", {}, round(report.checked_at, 3))
    repo = report.repository_result
    tf.add("dbseal_check_status", {"check": "repository"}, int(repo.status))
    for s in report.sources:
        src = {"source": s.name}
        for r in s.results:
            if r.configured:
                tf.add("dbseal_check_status", src | {"check": r.name}, int(r.status))
        binlog = s.result("binlog")
        if binlog.configured:
            gaps = binlog.facts.get("gaps") or []
            tf.add("dbseal_binlog_gaps", src, len(gaps))
            lag = binlog.facts.get("lag_s")
            if lag is not None:
                tf.add(
                    "dbseal_binlog_last_event_timestamp_seconds",
                    src,
                    round(report.checked_at - float(lag), 3),
                )
        m = s.metrics()
        if not m:
            continue
        method = {"source": s.name, "method": str(m["method"])}
        tf.add(
            "dbseal_backup_last_success_timestamp_seconds", method, m["last_success_timestamp"] or 0
        )
        tf.add("dbseal_backup_last_size_bytes", method, m["last_size_bytes"])
        tf.add("dbseal_backup_last_duration_seconds", method, m["last_duration_s"])
        tf.add("dbseal_backups_failed_since_success", src, m["failed_since_success"])
        tf.add(
            "dbseal_verify_last_success_timestamp_seconds",
            src,
            m["verify_last_success_timestamp"] or 0,
        )
        tf.add(
            "dbseal_verify_last_restore_duration_seconds", src, m["verify_last_restore_duration_s"]
        )
        key = s.result("key")
        for ref, info in (key.facts.get("keys") or {}).items():
            since = info.get("since_epoch")
            if since is not None:
                tf.add(
                    "dbseal_key_age_seconds",
                    src | {"key": ref},
                    round(report.checked_at - since, 3),
                )
    return tf.render()
