"""`dbseal check`: judge what is known about each source; pure (no storage, no clock, no output).

:func:`evaluate_source` turns a source's :class:`SourceFacts` (gathered from the
repository by :mod:`dbseal.ops.check`) into one :class:`CheckResult` per check:

* ``backup``: age of the newest good backup (from its end) against
  ``max_age_warning``/``max_age_critical``; no good backup is CRITICAL;
* ``failed``: failed backups since the newest good one (1: WARNING,
  ``failed_critical``: CRITICAL);
* ``verify``: the newest verification of any of the source's backups: failed is
  CRITICAL, older than ``verify_max_age`` (or none at all) a WARNING;
* ``restore``: the newest restore-level verification's restore time against the
  recovery-time objective ``rto`` (over it: CRITICAL; never measured: WARNING);
  not configured without ``rto``;
* ``key``: age of the keyring key version that sealed the newest good backup
  against ``key_rotation`` (over it: WARNING, rotation due);
* ``escrow``: with ``require_escrow``, every good backup of the last
  ``escrow_within`` (and always the newest) must be openable by an escrow
  recipient (CRITICAL otherwise);
* ``binlog``: archive lag and gaps, from a :class:`~dbseal.monitoring.binlog.BinlogArchive`
  (not configured when the source has no archived binlogs).

Ages are measured from ``now`` (an epoch), which the caller passes in.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbseal.monitoring.binlog import BinlogState
from dbseal.monitoring.status import CheckResult, Status, not_configured, ok, worst
from dbseal.monitoring.thresholds import Thresholds

CHECKS = ("backup", "failed", "verify", "restore", "key", "escrow", "binlog")


@dataclass(frozen=True)
class KeyUse:
    """A keyring key version on the newest good backup, and since when it exists."""

    ref: str  # NAME:VERSION
    since: float  # epoch
    basis: str  # "created" (read from the keyring) or "first used" (oldest backup sealed for it)


@dataclass
class SourceFacts:
    name: str
    newest_good: Mapping[str, Any] | None = None  # its manifest
    failed_since: Sequence[Mapping[str, Any]] = ()  # failed backups started after it
    last_verify: Mapping[str, Any] | None = None  # newest verification record
    last_verify_ok: Mapping[str, Any] | None = None  # newest with result ok
    last_restore: Mapping[str, Any] | None = None  # newest restore-level record
    keys: Sequence[KeyUse] = ()
    failing: Sequence[str] = ()  # backups whose own newest verification failed
    escrow_missing: Sequence[str] | None = None  # None: not examined; else backup ids without
    escrow_examined: int = 0
    binlog: BinlogState = field(default_factory=BinlogState)


def parse_time(text: object) -> float | None:
    """An ISO 8601 time (naive means UTC) as an epoch; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def stamp(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    when = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


def duration_text(seconds: float) -> str:
    """``93600`` -> ``1d2h``; under a minute in seconds."""
    s = int(max(seconds, 0))
    if seconds < 10:
        return f"{max(seconds, 0):.1f}s"
    if s < 60:
        return f"{s}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
        if len(parts) == 2:
            break
    return "".join(parts)


def limit_text(seconds: float) -> str:
    """A threshold as written in dbseal.toml: ``93600`` -> ``26h`` (the largest exact unit)."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 and not (unit in "wd" and seconds < 4 * 86400):
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def backup_time(manifest: Mapping[str, Any]) -> float | None:
    """When a backup's data was complete: its end, else its start."""
    return parse_time(manifest.get("ended")) or parse_time(manifest.get("started"))


def record_time(record: Mapping[str, Any]) -> float | None:
    return parse_time(record.get("started"))


def check_backup(f: SourceFacts, t: Thresholds, now: float) -> CheckResult:
    m = f.newest_good
    if m is None:
        return CheckResult("backup", Status.CRITICAL, "no good backup", facts={})
    when = backup_time(m)
    if when is None:
        return CheckResult(
            "backup", Status.UNKNOWN, f"backup {m.get('id')}: no readable time in its manifest"
        )
    age = now - when
    facts = {"id": m.get("id"), "ended": stamp(when), "age_s": round(age, 3)}
    text = f"newest good backup {m.get('id')} is {duration_text(age)} old"
    if age > t.max_age_critical_s:
        return CheckResult(
            "backup",
            Status.CRITICAL,
            f"{text} (> {limit_text(t.max_age_critical_s)})",
            facts=facts,
        )
    if age > t.max_age_warning_s:
        return CheckResult(
            "backup",
            Status.WARNING,
            f"{text} (> {limit_text(t.max_age_warning_s)})",
            facts=facts,
        )
    return ok("backup", text, **facts)


def check_failed(f: SourceFacts, t: Thresholds) -> CheckResult:
    n = len(f.failed_since)
    facts = {"count": n, "ids": [str(m.get("id")) for m in f.failed_since]}
    since = "since the newest good backup" if f.newest_good is not None else "and no good one"
    if n == 0:
        return ok("failed", f"no failed backup {since}", **facts)
    newest = max(f.failed_since, key=lambda m: str(m.get("started", "")))
    why = "; ".join(str(r) for r in newest.get("reasons") or [])[:120]
    text = f"{n} failed backup(s) {since}, newest {newest.get('id')}" + (f": {why}" if why else "")
    status = Status.CRITICAL if n >= t.failed_critical else Status.WARNING
    return CheckResult("failed", status, text, facts=facts)


def check_verify(f: SourceFacts, t: Thresholds, now: float) -> CheckResult:
    result = _newest_verify(f, t, now)
    others = [b for b in f.failing if f.last_verify is None or b != f.last_verify.get("backup_id")]
    if result.status is Status.OK and others:
        result.status = Status.WARNING
        result.reason += (
            f"; but {len(others)} other backup(s) failed their last verify, e.g. {others[0]} "
            "(damaged: `dbseal forget` it, or verify it again)"
        )
    result.facts["failing"] = list(f.failing)
    return result


def _newest_verify(f: SourceFacts, t: Thresholds, now: float) -> CheckResult:
    v = f.last_verify
    if v is None:
        return CheckResult("verify", Status.WARNING, "never verified (run `dbseal verify`)")
    when = record_time(v)
    facts = {
        "backup_id": v.get("backup_id"),
        "level": v.get("level"),
        "result": v.get("result"),
        "started": stamp(when),
        "age_s": round(now - when, 3) if when is not None else None,
    }
    what = f"last verify of {v.get('backup_id')} ({v.get('level')})"
    if v.get("result") != "ok":
        problem = "; ".join(str(p) for p in v.get("problems") or [])[:160]
        reason = f"{what} {v.get('result')}" + (f": {problem}" if problem else "")
        return CheckResult("verify", Status.CRITICAL, reason, facts=facts)
    if when is None:
        return CheckResult("verify", Status.UNKNOWN, f"{what}: no readable time", facts=facts)
    text = f"{what} ok, {duration_text(now - when)} ago"
    if now - when > t.verify_max_age_s:
        reason = f"{text} (> {limit_text(t.verify_max_age_s)})"
        return CheckResult("verify", Status.WARNING, reason, facts=facts)
    return ok("verify", text, **facts)


def check_restore(f: SourceFacts, t: Thresholds) -> CheckResult:
    r = f.last_restore
    restore_s = r.get("restore_s") if r is not None else None
    facts = {
        "backup_id": r.get("backup_id") if r else None,
        "restore_s": restore_s,
        "started": stamp(record_time(r)) if r else None,
        "rto_s": t.rto_s,
    }
    if t.rto_s is None:
        text = "no rto configured"
        if isinstance(restore_s, int | float):
            text += f"; last restore test took {restore_s:.1f}s"
        return not_configured("restore", text, **facts)
    if r is None or not isinstance(restore_s, int | float):
        return CheckResult(
            "restore",
            Status.WARNING,
            "restore time never measured (run `dbseal verify --level restore`)",
            facts=facts,
        )
    text = f"last restore test ({r.get('backup_id')}) took {duration_text(restore_s)}"
    if restore_s > t.rto_s:
        return CheckResult(
            "restore",
            Status.CRITICAL,
            f"{text}, over the rto {limit_text(t.rto_s)}",
            facts=facts,
        )
    return ok("restore", f"{text}, within the rto {limit_text(t.rto_s)}", **facts)


def check_key(f: SourceFacts, rotation_s: float, now: float) -> CheckResult:
    if not f.keys:
        return not_configured(
            "key", "no keyring key on the newest good backup (nothing dbseal rotates)"
        )
    oldest = min(f.keys, key=lambda k: k.since)
    age = now - oldest.since
    facts = {
        "keys": {
            k.ref: {"since": stamp(k.since), "since_epoch": k.since, "basis": k.basis}
            for k in f.keys
        },
        "age_s": round(age, 3),
        "rotation_s": rotation_s,
    }
    text = f"key {oldest.ref} {oldest.basis} {duration_text(age)} ago"
    if age > rotation_s:
        reason = f"{text}: rotation due (> {limit_text(rotation_s)}; `dbseal keys rotate`)"
        return CheckResult("key", Status.WARNING, reason, facts=facts)
    return ok("key", f"{text} (rotation after {limit_text(rotation_s)})", **facts)


def check_escrow(f: SourceFacts, t: Thresholds) -> CheckResult:
    if not t.require_escrow:
        return not_configured("escrow", "escrow not required")
    if f.escrow_missing is None or f.escrow_examined == 0:
        return CheckResult("escrow", Status.UNKNOWN, "no recent backup to examine")
    facts = {"examined": f.escrow_examined, "missing": list(f.escrow_missing)}
    if f.escrow_missing:
        first = f.escrow_missing[0]
        reason = (
            f"{len(f.escrow_missing)} of {f.escrow_examined} recent backup(s) have no escrow "
            f"recipient (e.g. {first}; `dbseal rewrap --to age1...`)"
        )
        return CheckResult("escrow", Status.CRITICAL, reason, facts=facts)
    return ok(
        "escrow", f"all {f.escrow_examined} recent backup(s) have an escrow recipient", **facts
    )


def check_binlog(f: SourceFacts) -> CheckResult:
    b = f.binlog
    if not b.configured:
        return not_configured("binlog", b.reason)
    facts = {"lag_s": b.lag_s, "gaps": b.gaps}
    if b.gaps:
        return CheckResult("binlog", Status.CRITICAL, b.reason, facts=facts)
    return CheckResult("binlog", b.status, b.reason, facts=facts)


def evaluate_source(
    f: SourceFacts, t: Thresholds, now: float, key_rotation_s: float
) -> list[CheckResult]:
    """The results of every check in :data:`CHECKS` order."""
    return [
        check_backup(f, t, now),
        check_failed(f, t),
        check_verify(f, t, now),
        check_restore(f, t),
        check_key(f, t.key_rotation_s or key_rotation_s, now),
        check_escrow(f, t),
        check_binlog(f),
    ]


def unknown_source(reason: str) -> list[CheckResult]:
    """Every check UNKNOWN (the repository could not be read)."""
    return [CheckResult(name, Status.UNKNOWN, reason) for name in CHECKS]


def status_of(results: Sequence[CheckResult]) -> Status:
    return worst(r.status for r in results)
