"""`dbseal repo check`: find what interrupted writes left behind, and clean it on request.

A backup is visible only once its manifest exists, so an interrupted backup
leaves objects that no listing shows: temporary files or unfinished multipart
uploads (the backend's ``leftovers``), and *orphans*: a data object, log or
key envelope with no manifest. Orphans younger than ``min_age`` may belong to
a backup that is still running on another host and are never removed. A
stale in-flight announcement (``catalog/inflight.py``: its backup finished or
died) is an orphan too; a live one never is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dbseal.catalog.inflight import KIND as INFLIGHT
from dbseal.catalog.inflight import Announcement
from dbseal.catalog.repository import Repository, data_handle, envelope_handle, log_handle
from dbseal.errors import DbsealError, RepositoryError
from dbseal.storage import Handle

_SUFFIX = {"data": ".dbseal", "log": ".dbseal", "envelope": ".env"}


@dataclass
class CheckReport:
    leftovers: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # "kind/name"
    young_orphans: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # manifests whose objects are gone
    cleaned: int = 0

    @property
    def clean(self) -> bool:
        return not (self.leftovers or self.orphans or self.young_orphans or self.missing)


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
    report = CheckReport(leftovers=repo.backend.leftovers())
    ids = set(repo.backup_ids())
    now = time.time()
    handles = {"data": data_handle, "log": log_handle, "envelope": envelope_handle}
    for kind, suffix in _SUFFIX.items():
        for name in repo.backend.list(kind):
            bid = name.removesuffix(suffix)
            if bid in ids:
                continue
            info = repo.backend.stat(handles[kind](bid))
            young = info is not None and now - info.mtime < min_age_s
            (report.young_orphans if young else report.orphans).append(f"{kind}/{name}")
    for bid in sorted(ids):
        for kind in _required(repo, bid):
            if repo.backend.stat(handles[kind](bid)) is None:
                report.missing.append(f"{bid}: {kind} object missing")
    report.orphans += _stale_announcements(repo)
    if clean:
        report.cleaned = repo.backend.clean_leftovers(min_age_s)
        for entry in report.orphans:
            kind, name = entry.split("/", 1)
            if kind == INFLIGHT:
                repo.backend.remove(Handle(INFLIGHT, name))
            else:
                repo.backend.remove(handles[kind](name.removesuffix(_SUFFIX[kind])))
            report.cleaned += 1
    return report
