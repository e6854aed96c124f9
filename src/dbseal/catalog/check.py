"""`dbseal repo check`: find what interrupted writes left behind, and clean it on request.

A backup is visible only once its manifest exists, so an interrupted backup
leaves objects that no listing shows: temporary files or unfinished multipart
uploads (the backend's ``leftovers``), and *orphans*: a data object, log, key
envelope or verification record with no manifest. A prune deletes a backup's
manifest first, so an interrupted prune leaves orphans too, and ``clean``
finishes it. Orphans younger than ``min_age`` may belong to
a backup that is still running on another host and are never removed: each is
reported under ``kept`` with the reason and the time it becomes removable.

:attr:`CheckReport.needs_attention` is what the exit status reports: something
removable is still there (or, without ``clean``, leftovers of unknown age), or
a backup lost objects. What is kept only because it may be in progress is not.
A stale in-flight announcement (``catalog/inflight.py``: its backup finished or
died) is an orphan too; a live one never is.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from typing import Any

from dbseal.catalog.inflight import KIND as INFLIGHT
from dbseal.catalog.inflight import Announcement
from dbseal.catalog.repository import Repository, data_handle, envelope_handle, log_handle
from dbseal.errors import DbsealError, RepositoryError
from dbseal.storage import Handle

_SUFFIX = {"data": ".dbseal", "log": ".dbseal", "envelope": ".env"}
_HANDLES = {"data": data_handle, "log": log_handle, "envelope": envelope_handle}
ORPHAN_KINDS = (*_SUFFIX, "verification")  # verifications/<ID>/<TS>.json


def _handle(kind: str, name: str) -> Handle:
    """The handle of a listed object name of ``kind``."""
    if kind in ("verification", INFLIGHT):
        return Handle(kind, name)
    return _HANDLES[kind](name.removesuffix(_SUFFIX[kind]))


def _backup_id(kind: str, name: str) -> str:
    return name.split("/", 1)[0] if kind == "verification" else name.removesuffix(_SUFFIX[kind])


@dataclass
class CheckReport:
    leftovers: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # "kind/name", old enough to remove
    young_orphans: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # manifests whose objects are gone
    kept: list[dict[str, Any]] = field(default_factory=list)  # object, reason, removable_at
    cleaned: int = 0
    cleaning: bool = False

    @property
    def clean(self) -> bool:
        return not (self.leftovers or self.orphans or self.young_orphans or self.missing)

    @property
    def needs_attention(self) -> bool:
        if self.missing:
            return True
        if self.cleaning:  # what is still there was kept as possibly in progress
            return False
        return bool(self.leftovers or self.orphans)

    def to_json(self) -> dict[str, Any]:
        doc = {k: v for k, v in vars(self).items() if k != "cleaning"}
        return doc | {"clean": self.clean, "needs_attention": self.needs_attention}


def age_text(seconds: float) -> str:
    """``3600`` -> ``1h``: the largest unit that divides the age."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _stamp(epoch: float) -> str:
    when = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(microsecond=0)
    return when.isoformat().replace("+00:00", "Z")


def _required(repo: Repository, bid: str) -> tuple[str, ...]:
    """A failed backup removes its data object (``data_kept`` false in its manifest)."""
    try:
        kept = repo.manifest(bid).get("data_kept", True) is not False
    except RepositoryError:
        kept = True
    return ("data", "envelope") if kept else ("envelope",)


def _stale_announcements(repo: Repository) -> list[str]:
    out = []
    for name in repo.backend.list(INFLIGHT):
        try:
            ann = Announcement.decode(repo.backend.get(Handle(INFLIGHT, name)))
        except DbsealError:
            continue  # withdrawn meanwhile
        if ann is None or ann.stale_reason(repo.backend) is not None:
            out.append(f"{INFLIGHT}/{name}")
    return out


def check_repository(
    repo: Repository, min_age_s: float = 3600.0, clean: bool = False
) -> CheckReport:
    report = CheckReport(leftovers=repo.backend.leftovers(), cleaning=clean)
    ids = set(repo.backup_ids())
    now = time.time()
    why = f"younger than {age_text(min_age_s)}: may be a backup in progress"
    for kind in ORPHAN_KINDS:
        for name in repo.backend.list(kind):
            if _backup_id(kind, name) in ids:
                continue
            info = repo.backend.stat(_handle(kind, name))
            if info is not None and now - info.mtime < min_age_s:
                report.young_orphans.append(f"{kind}/{name}")
                report.kept.append(
                    {
                        "object": f"{kind}/{name}",
                        "reason": why,
                        "removable_at": _stamp(info.mtime + min_age_s),
                    }
                )
            else:
                report.orphans.append(f"{kind}/{name}")
    for bid in sorted(ids):
        for kind in _required(repo, bid):
            if repo.backend.stat(_HANDLES[kind](bid)) is None:
                report.missing.append(f"{bid}: {kind} object missing")
    report.orphans += _stale_announcements(repo)
    if clean:
        _clean(repo, report, min_age_s, now)
    return report


def _clean(repo: Repository, report: CheckReport, min_age_s: float, now: float) -> None:
    report.cleaned = repo.backend.clean_leftovers(min_age_s)
    for entry in report.orphans:
        kind, name = entry.split("/", 1)
        repo.backend.remove(_handle(kind, name))
        report.cleaned += 1
    # a leftover that survived cleaning is younger than min_age; its exact age is the
    # backend's, so the time given is the latest it can become removable
    for entry in repo.backend.leftovers():
        report.kept.append(
            {
                "object": entry,
                "reason": f"younger than {age_text(min_age_s)}: may be a write in progress",
                "removable_at": _stamp(now + min_age_s),
                "at_the_latest": True,
            }
        )
