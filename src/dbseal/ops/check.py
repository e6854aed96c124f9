"""`dbseal check`: gather what a repository says about each source, and judge it.

Reads only (never writes, never needs a data key): manifests, verification
records, the key envelopes of the newest backups, and with ``integrity`` the
repository scan of :func:`dbseal.catalog.check.check_repository`. The judging
is :mod:`dbseal.monitoring.health`; the output writers (table, JSON, Nagios,
Prometheus) read the :class:`HealthReport` this returns.

Verification records are read as stored: they are authenticated with the
backup's key, which `check` does not have, so a writer of the repository could
forge an ``ok`` record (``dbseal show`` with a key authenticates them).

A repository that cannot be opened or read (storage down, not a repository)
makes the report *unreachable*: every check is UNKNOWN and the reason is the
storage error's message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.check import check_repository
from dbseal.catalog.repository import Repository, envelope_handle
from dbseal.catalog.source_names import source_name
from dbseal.crypto.keyring import STANZA_TYPE as KEYRING_STANZA
from dbseal.crypto.keyring import Keyring
from dbseal.crypto.recipients import describe_stanza
from dbseal.crypto.x25519 import STANZA_TYPE as X25519_STANZA
from dbseal.errors import DbsealError, RepositoryError, StorageError
from dbseal.format.envelope import parse_envelope
from dbseal.monitoring.binlog import ArchivedBinlogs, BinlogArchive
from dbseal.monitoring.health import (
    KeyUse,
    SourceFacts,
    backup_time,
    evaluate_source,
    parse_time,
    record_time,
    stamp,
    status_of,
    unknown_source,
)
from dbseal.monitoring.status import CheckResult, Status, ok, worst
from dbseal.monitoring.thresholds import DAY, Thresholds
from dbseal.storage import Handle

REPORT_FORMAT = 1
MAX_RECORDS_READ = 200  # verification records read per source, newest first
ThresholdsFor = Callable[[str], Thresholds]


@dataclass
class SourceHealth:
    name: str
    thresholds: Thresholds
    results: list[CheckResult]
    facts: SourceFacts | None = None

    @property
    def status(self) -> Status:
        return status_of(self.results)

    def result(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    def metrics(self) -> dict[str, Any]:
        """Numbers for dashboards: epochs, seconds, bytes (None: not known)."""
        f = self.facts
        if f is None:
            return {}
        m = f.newest_good or {}
        started, ended = parse_time(m.get("started")), parse_time(m.get("ended"))
        duration = m.get("duration_s")
        if not isinstance(duration, int | float) and started is not None and ended is not None:
            duration = ended - started
        restore = f.last_restore.get("restore_s") if f.last_restore else None
        key_age = self.result("key").facts.get("age_s")
        return {
            "last_success_timestamp": backup_time(m) if m else None,
            "method": str(m.get("method") or "logical"),
            "last_size_bytes": (m.get("sizes") or {}).get("stored") if m else None,
            "last_duration_s": duration if m else None,
            "verify_last_success_timestamp": record_time(f.last_verify_ok)
            if f.last_verify_ok
            else None,
            "verify_last_restore_duration_s": restore if isinstance(restore, int | float) else None,
            "key_age_s": key_age,
            "failed_since_success": len(f.failed_since),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "status": self.status.name,
            "code": int(self.status),
            "checks": [r.to_json() for r in self.results],
            "metrics": self.metrics(),
            "thresholds": self.thresholds.to_json(),
        }


@dataclass
class HealthReport:
    repository: str
    checked_at: float
    repository_result: CheckResult
    reachable: bool
    sources: list[SourceHealth] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what limited the check (not a result)

    @property
    def status(self) -> Status:
        """The worst result; UNKNOWN when there is no source to check at all."""
        nothing = [Status.UNKNOWN] if not self.sources else []
        return worst([self.repository_result.status, *(s.status for s in self.sources), *nothing])

    def to_json(self) -> dict[str, Any]:
        return {
            "dbseal_check": REPORT_FORMAT,
            "repository": self.repository,
            "checked_at": stamp(self.checked_at),
            "checked_at_epoch": round(self.checked_at, 3),
            "status": self.status.name,
            "code": int(self.status),
            "repository_check": self.repository_result.to_json() | {"reachable": self.reachable},
            "sources": [s.to_json() for s in self.sources],
            "notes": self.notes,
        }


def check_health(
    open_repository: Callable[[], Repository],
    location: str,
    thresholds_for: ThresholdsFor,
    *,
    sources: Sequence[str] | None = None,
    configured: Iterable[str] = (),
    integrity: bool = True,
    keyring: Keyring | None = None,
    binlog: BinlogArchive | None = None,
    now: float | None = None,
) -> HealthReport:
    """Check ``sources`` (default: every source with backups, and every ``configured`` one)."""
    now = time.time() if now is None else now
    try:
        repo = open_repository()
        manifests = repo.manifests()
        names = list(sources) if sources else _all_sources(manifests, configured)
        repo_result = _repository_result(repo, manifests, integrity)
        gatherer = _Gatherer(
            repo, manifests, keyring, binlog or ArchivedBinlogs.read(repo.backend), now
        )
        out = []
        for name in names:
            t = thresholds_for(name)
            facts = gatherer.facts(name, t)
            rotation = repo.config.policy.max_key_age_days * DAY
            out.append(SourceHealth(name, t, evaluate_source(facts, t, now, rotation), facts))
    except (StorageError, RepositoryError) as exc:
        reason = f"repository {location} unreachable: {exc.message}"
        unreachable = CheckResult("repository", Status.UNKNOWN, reason)
        names = list(sources) if sources else sorted(set(configured))
        health = [SourceHealth(n, thresholds_for(n), unknown_source(reason)) for n in names]
        return HealthReport(location, now, unreachable, False, health)
    return HealthReport(location, now, repo_result, True, out)


def _all_sources(manifests: Iterable[Mapping[str, Any]], configured: Iterable[str]) -> list[str]:
    seen = {source_name(m) for m in manifests if m.get("status") != "damaged"}
    return sorted(seen | set(configured))


def _repository_result(
    repo: Repository, manifests: Sequence[Mapping[str, Any]], integrity: bool
) -> CheckResult:
    damaged = [str(m["id"]) for m in manifests if m.get("status") == "damaged"]
    if not integrity:
        return ok(
            "repository",
            f"reachable, {len(manifests)} backup(s) (integrity not checked)",
            backups=len(manifests),
            integrity_checked=False,
        )
    report = check_repository(repo)
    facts = {"backups": len(manifests), "integrity_checked": True, "damaged_manifests": damaged}
    facts |= {k: v for k, v in report.to_json().items() if k in ("leftovers", "orphans", "missing")}
    if report.missing:
        reason = f"{len(report.missing)} backup(s) lost objects, e.g. {report.missing[0]}"
        return CheckResult("repository", Status.CRITICAL, reason, facts=facts)
    if damaged:
        reason = f"{len(damaged)} damaged manifest(s), e.g. {damaged[0]}"
        return CheckResult("repository", Status.WARNING, reason, facts=facts)
    if report.needs_attention:
        n = len(report.leftovers) + len(report.orphans)
        reason = f"{n} leftover(s) of interrupted writes (`dbseal repo check --clean`)"
        return CheckResult("repository", Status.WARNING, reason, facts=facts)
    return ok("repository", f"reachable, {len(manifests)} backup(s), nothing left behind", **facts)


class _Gatherer:
    def __init__(
        self,
        repo: Repository,
        manifests: Sequence[Mapping[str, Any]],
        keyring: Keyring | None,
        binlog: BinlogArchive,
        now: float,
    ) -> None:
        self.repo, self.keyring, self.binlog, self.now = repo, keyring, binlog, now
        self.manifests = [m for m in manifests if m.get("status") != "damaged"]
        self.source_of = {str(m["id"]): source_name(m) for m in self.manifests}
        self._records: dict[str, list[str]] | None = None
        self._docs: dict[str, dict[str, Any] | None] = {}

    def facts(self, name: str, t: Thresholds) -> SourceFacts:
        mine = sorted(
            (m for m in self.manifests if source_name(m) == name),
            key=lambda m: (str(m.get("started", "")), str(m["id"])),
            reverse=True,
        )
        newest = self._newest_good(mine)
        cut = str(newest.get("started", "")) if newest else ""
        failed = [
            m
            for m in mine
            if m.get("status") not in mf.GOOD_STATUSES and str(m.get("started", "")) > cut
        ]
        f = SourceFacts(name, newest, failed)
        f.last_verify, f.last_verify_ok, f.last_restore = self._verifications(name)
        f.failing = self._failing(name)
        f.keys = self._keys(newest) if newest else []
        if t.require_escrow:
            self._escrow(f, mine, t)
        f.binlog = self.binlog.state(name, self.now)
        return f

    def _newest_good(self, newest_first: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        """The newest good backup whose key envelope exists (what ``NAME:latest`` means)."""
        for m in newest_first:
            good = m.get("status") in mf.GOOD_STATUSES
            if good and self.repo.backend.stat(envelope_handle(str(m["id"]))) is not None:
                return m
        return None

    def _record_names(self) -> dict[str, list[str]]:
        """Verification record names per source, newest first (one listing for all)."""
        if self._records is None:
            out: dict[str, list[tuple[str, str]]] = {}
            for name in self.repo.backend.list("verification"):
                bid, _, rest = name.partition("/")
                if bid in self.source_of:
                    out.setdefault(self.source_of[bid], []).append((rest, name))
            self._records = {s: [n for _r, n in sorted(v, reverse=True)] for s, v in out.items()}
        return self._records

    def _verifications(
        self, source: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
        names = self._record_names().get(source, [])[:MAX_RECORDS_READ]
        last = last_ok = last_restore = None
        for name in names:
            doc = self._record(name)
            if doc is None:
                continue
            last = last or doc
            if last_ok is None and doc.get("result") == "ok":
                last_ok = doc
            if last_restore is None and doc.get("level") == "restore" and doc.get("restore_s"):
                last_restore = doc
            if last_ok is not None and last_restore is not None:
                break
        return last, last_ok, last_restore

    def _failing(self, source: str) -> list[str]:
        """The source's backups whose own newest verification failed (damaged, still kept)."""
        newest: dict[str, str] = {}
        for name in self._record_names().get(source, [])[:MAX_RECORDS_READ]:
            newest.setdefault(name.partition("/")[0], name)
        return sorted(
            bid
            for bid, name in newest.items()
            if (doc := self._record(name)) is not None and doc.get("result") == "failed"
        )

    def _record(self, name: str) -> dict[str, Any] | None:
        if name not in self._docs:
            try:
                doc = json.loads(self.repo.backend.get(Handle("verification", name)))
            except (ValueError, DbsealError):
                doc = {"backup_id": name.partition("/")[0], "result": "unreadable", "record": name}
            self._docs[name] = doc if isinstance(doc, dict) else None
        return self._docs[name]

    def _stanzas(self, bid: str) -> list[dict[str, object]] | None:
        """What the key envelope (the truth after a rewrap) says; None when it is gone."""
        try:
            env = parse_envelope(self.repo.backend.get(envelope_handle(bid)))
        except (StorageError, DbsealError):
            return None
        return [describe_stanza(s) for s in env.stanzas]

    def _keys(self, newest: Mapping[str, Any]) -> list[KeyUse]:
        out = []
        for s in self._stanzas(str(newest["id"])) or []:
            if s.get("type") != KEYRING_STANZA or s.get("malformed"):
                continue
            ref = (str(s["keyring_id"]), str(s["key"]), int(str(s["version"])))
            label = f"{ref[1]}:{ref[2]}"
            created = self._created(ref)
            if created is not None:
                out.append(KeyUse(label, created, "created"))
            elif (first := self._first_use(ref)) is not None:
                out.append(KeyUse(label, first, "first used"))
        return out

    def _created(self, ref: tuple[str, str, int]) -> float | None:
        ring = self.keyring
        if ring is None or ring.keyring_id.hex() != ref[0]:
            return None
        try:
            return parse_time(ring.get(ref[1], ref[2]).created)
        except DbsealError:
            return None

    def _first_use(self, ref: tuple[str, str, int]) -> float | None:
        """The start of the oldest backup (of any source) whose manifest names this key."""
        times = [
            parse_time(m.get("started"))
            for m in self.manifests
            if any(_names(k, ref) for k in m.get("keys") or [])
        ]
        return min((t for t in times if t is not None), default=None)

    def _escrow(self, f: SourceFacts, mine: Sequence[Mapping[str, Any]], t: Thresholds) -> None:
        since = self.now - t.escrow_within_s
        recent = [
            m
            for m in mine
            if m.get("status") in mf.GOOD_STATUSES and (backup_time(m) or 0) >= since
        ]
        if f.newest_good is not None and f.newest_good not in recent:
            recent.append(f.newest_good)
        wanted = set(t.escrow_recipients)
        missing = []
        examined = 0
        for m in recent:
            stanzas = self._stanzas(str(m["id"]))
            if stanzas is None:
                continue
            examined += 1
            if not any(
                s.get("type") == X25519_STANZA and (not wanted or s.get("recipient") in wanted)
                for s in stanzas
            ):
                missing.append(str(m["id"]))
        f.escrow_missing, f.escrow_examined = missing, examined


def _names(described: object, ref: tuple[str, str, int]) -> bool:
    """Whether a manifest's ``keys`` entry is the keyring key version ``ref``."""
    if not isinstance(described, dict):
        return False
    return (described.get("keyring_id"), described.get("key"), described.get("version")) == ref
