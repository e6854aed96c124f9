"""Delete backups (`dbseal forget`): by id, or by a retention policy, under the prune lock.

One step, as in docs/operations.md: ``forget POLICY`` plans and deletes
(``--prune`` is an accepted alias); ``dry_run`` plans only and takes no lock.

**Order of deletion** of one backup: manifest, data, sealed log, key
envelope, verification records. The manifest is the commit point: once it is
gone no listing shows the backup, so a half-deleted backup is never listed (as
good or otherwise). An interrupted prune leaves orphans, which `dbseal repo
check --clean` removes: it finishes the prune. With ``shred`` the envelope goes
first (crypto-shredding: the data is unreadable even if deleting it fails).

**Concurrent backups** need no lock: the plan is made from the manifests
listed after the lock is taken, and a backup started at or after the prune's
own start time is not considered at all (``untouched``). A backup still being
written has no manifest yet, and a prune never deletes objects that have none.

**Object Lock**: a backup whose data, manifest or log carries an S3 Object
Lock retention date in the future is not touched (reported ``locked until``);
a delete the store refuses is reported too. Either makes the run partial
(:class:`~dbseal.errors.PrunePartial`, exit 44); the rest is still done.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbseal.catalog.lock import DEFAULT_TIMEOUT_S, RepositoryLock
from dbseal.catalog.repository import (
    Repository,
    data_handle,
    envelope_handle,
    log_handle,
    manifest_handle,
)
from dbseal.catalog.retention import (
    Candidate,
    Decision,
    RetentionPolicy,
    group_by_source,
    plan_source,
)
from dbseal.errors import ReceiverRefused, StorageError
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.storage import Handle

PolicyFor = Callable[[str], RetentionPolicy | None]


def forget_backup(repo: Repository, bid: str, shred: bool) -> list[str]:
    """Delete a backup's objects (order: module docstring). Returns what was removed."""
    order = (
        ["envelope", "manifest", "data", "log"]
        if shred
        else ["manifest", "data", "log", "envelope"]
    )
    handles = {
        "envelope": envelope_handle(bid),
        "manifest": manifest_handle(bid),
        "data": data_handle(bid),
        "log": log_handle(bid),
    }
    removed = []
    for kind in order:
        repo.backend.remove(handles[kind])
        removed.append(kind)
    for name in repo.backend.list("verification", prefix=f"{bid}/"):
        repo.backend.remove(Handle("verification", name))
    return removed


def locked_until(repo: Repository, bid: str, now: float) -> float | None:
    """The latest Object Lock retention date (epoch) still ahead on the backup's objects."""
    dates = []
    for handle in (manifest_handle(bid), data_handle(bid), log_handle(bid)):
        info = repo.backend.stat(handle)
        if info is not None and info.retain_until is not None and info.retain_until > now:
            dates.append(info.retain_until)
    return max(dates) if dates else None


@dataclass
class ForgetReport:
    started: str
    dry_run: bool
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # source -> policy, decisions
    removed: list[str] = field(default_factory=list)
    would_remove: list[str] = field(default_factory=list)  # dry run
    locked: list[dict[str, str]] = field(default_factory=list)  # id, until
    failed: list[dict[str, str]] = field(default_factory=list)  # id, error
    untouched: list[dict[str, str]] = field(default_factory=list)  # id or source, reason

    @property
    def complete(self) -> bool:
        return not (self.locked or self.failed)

    def to_json(self) -> dict[str, Any]:
        return vars(self) | {"complete": self.complete}


def _stamp(epoch: float) -> str:
    when = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


@dataclass
class _Run:
    repo: Repository
    report: ForgetReport
    start: datetime.datetime
    lock: RepositoryLock | None
    reporter: Reporter

    @property
    def now(self) -> float:
        return self.start.timestamp()

    def delete(self, bid: str, shred: bool = False) -> None:
        if self.report.dry_run:
            self.report.would_remove.append(bid)
            return
        until = locked_until(self.repo, bid, self.now)
        if until is not None:
            self.report.locked.append({"id": bid, "until": _stamp(until)})
            self.reporter.event("forget.locked", id=bid, until=_stamp(until))
            return
        if self.lock is not None:
            self.lock.confirm()
        try:
            forget_backup(self.repo, bid, shred)
        except ReceiverRefused:
            raise  # an append-only receiver refuses every delete: the run fails (exit 50)
        except StorageError as exc:
            self.report.failed.append({"id": bid, "error": exc.message})
            self.reporter.event("forget.failed", id=bid, error=exc.message)
            return
        self.report.removed.append(bid)
        self.reporter.event("forget.removed", id=bid)


@contextlib.contextmanager
def _session(
    repo: Repository,
    dry_run: bool,
    lock_timeout_s: float,
    reporter: Reporter | None,
    now: datetime.datetime | None,
) -> Iterator[_Run]:
    start = now or datetime.datetime.now(datetime.UTC)
    report = ForgetReport(_stamp(start.timestamp()), dry_run)
    reporter = reporter or NullReporter()
    if dry_run:
        yield _Run(repo, report, start, None, reporter)
        return
    with RepositoryLock(repo.backend, timeout_s=lock_timeout_s) as lock:
        reporter.event("forget.lock_taken")
        yield _Run(repo, report, start, lock, reporter)


def forget_ids(
    repo: Repository,
    refs: Sequence[str],
    *,
    source: str | None = None,
    shred: bool = False,
    dry_run: bool = False,
    lock_timeout_s: float = DEFAULT_TIMEOUT_S,
    reporter: Reporter | None = None,
) -> ForgetReport:
    """Delete the named backups (ids, prefixes, ``NAME:latest``): no policy, no safety rule."""
    with _session(repo, dry_run, lock_timeout_s, reporter, None) as run:
        ids = list(dict.fromkeys(repo.resolve(ref, source) for ref in refs))
        for bid in ids:
            run.delete(bid, shred)
        return run.report


def forget_by_policy(
    repo: Repository,
    policy_for: PolicyFor,
    *,
    sources: Iterable[str] | None = None,
    dry_run: bool = False,
    lock_timeout_s: float = DEFAULT_TIMEOUT_S,
    reporter: Reporter | None = None,
    now: datetime.datetime | None = None,
) -> ForgetReport:
    """Plan each source's backups by its policy and delete what no rule keeps."""
    wanted = set(sources) if sources is not None else None
    with _session(repo, dry_run, lock_timeout_s, reporter, now) as run:
        report, start = run.report, run.start
        groups = _candidates(repo, start, report)
        for source in sorted((wanted or set()) - set(groups)):
            report.untouched.append({"source": source, "reason": "no backups to consider"})
        for source, group in groups.items():
            if wanted is not None and source not in wanted:
                continue
            policy = policy_for(source)
            if policy is None:
                report.untouched.append({"source": source, "reason": "no retention policy"})
                continue
            decisions = plan_source(group, policy, start, _newest_restorable(repo, group))
            report.plans[source] = {
                "policy": policy.describe(),
                "decisions": [d.to_json() for d in decisions],
            }
            for d in sorted(_dropped(decisions), key=lambda d: (d.started, d.id)):
                run.delete(d.id)
        return report


def _dropped(decisions: Iterable[Decision]) -> list[Decision]:
    return [d for d in decisions if not d.keep]


def _candidates(
    repo: Repository, start: datetime.datetime, report: ForgetReport
) -> dict[str, list[Candidate]]:
    """The listed backups a prune may consider; the others go to ``untouched``."""
    out = []
    for m in repo.manifests():
        cand = Candidate.from_manifest(m)
        if cand is None:
            report.untouched.append({"id": str(m["id"]), "reason": "damaged manifest"})
        elif cand.started >= start:
            report.untouched.append({"id": cand.id, "reason": "started after this prune"})
        else:
            out.append(cand)
    return group_by_source(out)


def _newest_restorable(repo: Repository, group: Sequence[Candidate]) -> str | None:
    """The newest good backup whose key envelope exists (what ``NAME:latest`` means)."""
    for c in sorted(group, key=lambda c: (c.started, c.id), reverse=True):
        if c.good and repo.backend.stat(envelope_handle(c.id)) is not None:
            return c.id
    return None
