"""The report's facts: one versioned dictionary (``dbseal report --json``), built keyless.

Top-level keys (version :data:`FACTS_VERSION`; an added key keeps the version, a
removed or renamed one bumps it): ``dbseal_report``, ``generated``, ``period``,
``repository``, ``access``, ``objectives``, ``summary``, ``sources``, ``encryption``,
``keys``, ``shredding``, ``verifications``, ``restore``, ``transit``, ``event_log``,
``integrity``. Times are UTC ISO-8601, durations in seconds.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository
from dbseal.crypto.keyring import Keyring
from dbseal.report import evidence, keyfacts
from dbseal.report.collect import BackupRecord, read_repository
from dbseal.report.options import FACTS_VERSION, ReportOptions
from dbseal.report.summary import summarize

WHAT_A_KEY_ADDS = [
    "with the keyring (--keyring and its passphrase): each key version's creation, retirement "
    "and destruction dates and state, so which backups a withdrawn key no longer opens",
    "with a backup key: the manifests' and verification records' authenticators can be checked "
    "(`dbseal verify --level decrypt`); keyless, the report shows them as stored",
]


def _engine(m: dict[str, Any]) -> str | None:
    """The manifest's ``engine`` if it names one, else MariaDB/MySQL from the server version."""
    if isinstance(m.get("engine"), str) and m["engine"]:
        return str(m["engine"])
    version = m.get("server_version")
    if not isinstance(version, str) or not version:
        return None
    return "MariaDB" if "mariadb" in version.lower() else "MySQL"


def _method(m: dict[str, Any]) -> str:
    src = m.get("source") if isinstance(m.get("source"), dict) else {}
    return str(m.get("method") or (src or {}).get("kind") or "unknown")


def _gaps(good: list[datetime.datetime], opts: ReportOptions) -> list[dict[str, Any]]:
    """Stretches longer than max_age without a good backup, clipped to the period."""
    out: list[dict[str, Any]] = []
    points = sorted(good)
    if not points:
        return out  # never a good backup: the summary says so, there is no gap to measure
    for a, b in zip(points, [*points[1:], opts.until], strict=True):
        if b - a > opts.max_age and b > opts.since and a < opts.until:
            start, end = max(a, opts.since), min(b, opts.until)
            out.append(
                {
                    "from": start.isoformat(),
                    "to": end.isoformat(),
                    "hours": round((b - a).total_seconds() / 3600, 1),
                    "ongoing": b == opts.until,
                }
            )
    return out


def inventory(
    all_recs: list[BackupRecord], period: list[BackupRecord], opts: ReportOptions
) -> list[dict[str, Any]]:
    names = sorted({r.source for r in period} | set(opts.sources))  # a named source always shows
    rows = []
    for name in names:
        mine = [r for r in period if r.source == name]
        status = Counter(str(r.manifest.get("status")) for r in mine)
        good_all = [
            r.started
            for r in all_recs
            if r.source == name and r.started and r.manifest.get("status") in mf.GOOD_STATUSES
        ]
        good = [r for r in mine if r.manifest.get("status") in mf.GOOD_STATUSES]
        per_day: dict[str, dict[str, int]] = defaultdict(
            lambda: {"ok": 0, "warnings": 0, "failed": 0}
        )
        for r in mine:
            if r.started is not None:
                st = str(r.manifest.get("status"))
                per_day[r.started.date().isoformat()][
                    st if st in ("ok", "warnings") else "failed"
                ] += 1
        newest_good = max((r.started for r in good if r.started), default=None)
        rows.append(
            {
                "name": name,
                "engines": sorted({e for r in mine if (e := _engine(r.manifest))}),
                "methods": sorted({_method(r.manifest) for r in mine}),
                "server_versions": sorted(
                    {str(v) for r in mine if (v := r.manifest.get("server_version"))}
                ),
                "backups": len(mine),
                "good": status["ok"],
                "warnings": status["warnings"],
                "failed": len(mine) - status["ok"] - status["warnings"],
                "first": mine[0].manifest.get("started") if mine else None,
                "newest": mine[-1].manifest.get("started") if mine else None,
                "newest_good": newest_good.isoformat() if newest_good else None,
                "newest_good_age_s": round((opts.until - newest_good).total_seconds())
                if newest_good
                else None,
                "stored_bytes": sum(
                    int((r.manifest.get("sizes") or {}).get("stored") or 0) for r in mine
                ),
                "gaps": _gaps(good_all, opts),
                "per_day": dict(sorted(per_day.items())),
            }
        )
    return rows


def build_facts(
    repo: Repository,
    opts: ReportOptions,
    ring: Keyring | None = None,
    events: tuple[list[dict[str, Any]], dict[str, Any]] | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as data. Reads the repository; writes nothing."""
    all_recs = read_repository(repo)
    if opts.sources:
        all_recs = [r for r in all_recs if r.source in opts.sources]
    period = [r for r in all_recs if r.started is not None and opts.since <= r.started < opts.until]
    states = keyfacts.key_states(ring)
    sources = inventory(all_recs, period, opts)
    enc = keyfacts.encryption(period, opts, states)
    runs = evidence.verifications(all_recs, opts)
    facts: dict[str, Any] = {
        "dbseal_report": FACTS_VERSION,
        "generated": (now or datetime.datetime.now(datetime.UTC))
        .replace(microsecond=0)
        .isoformat(),
        "period": {"since": opts.since.isoformat(), "until": opts.until.isoformat()},
        "repository": {
            "id": repo.config.repository_id,
            "created": repo.config.created,
            "default_codec": repo.config.codec,
            "require_encryption": repo.config.policy.require_encryption,
            "backups_total": len(all_recs),
            "backups_in_period": len(period),
            "damaged_manifests": [r.id for r in all_recs if r.manifest_sha256 is None],
        },
        "access": {
            "keyless": ring is None,
            "keyring": ring.keyring_id.hex() if ring is not None else None,
            "what_a_key_adds": WHAT_A_KEY_ADDS[1:] if ring is not None else WHAT_A_KEY_ADDS,
        },
        "objectives": {
            "max_age_s": int(opts.max_age.total_seconds()),
            "rto_s": int(opts.rto.total_seconds()) if opts.rto else None,
            "rotation_days": opts.rotation_days,
            "escrow_recipients": list(opts.escrow),
        },
        "sources": sources,
        "encryption": enc,
        "keys": keyfacts.lifecycle(all_recs, opts, states, events[0] if events else []),
        "shredding": keyfacts.shredding(enc),
        "verifications": runs,
        "restore": evidence.restore_by_source(runs, [s["name"] for s in sources], opts),
        "transit": evidence.transit(period, repo),
        "event_log": events[1] if events else None,
        "integrity": evidence.integrity(period),
    }
    facts["summary"] = summarize(facts)
    return facts
