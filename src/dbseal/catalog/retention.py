"""Retention policies: which backups `dbseal forget` keeps, and why.

Pure logic over manifests (no storage, no clock of its own). Semantics follow
restic's ``forget`` policies:

* Rules apply per source (``source_name``) to its *good* backups (status ``ok``
  or ``warnings``), newest first, and their result is the union: a backup is
  kept when any rule keeps it, and shows every reason.
* ``last N``: the N newest backups (reason ``last K``: the K-th newest).
* ``hourly/daily/weekly/monthly/yearly N``: for each of the N newest calendar
  units that hold backups, the newest backup in it (reason ``daily 2026-12-06``,
  ``weekly 2026-W49``...). Units are UTC; weeks are ISO 8601 weeks (Monday
  first, ``%G-W%V``). ``-1`` means every unit.
* ``within D``: every backup started within D of the source's *newest* backup
  (not of now: a source that stopped backing up does not lose its history).
* Failed backups are kept while younger than ``failed_within`` (default 7
  days, measured from ``now``), then removed.

Safety rules no policy overrides: the newest good backup of every source is
kept (``newest good``); the ``parent`` of a kept backup is kept too, through
the whole chain (``parent of ID``; for incremental backups, none exist yet).
Binlog segments are not managed yet. Damaged manifests are never touched.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dbseal.catalog.manifest import GOOD_STATUSES
from dbseal.catalog.source_names import source_name

UNLIMITED = -1
DEFAULT_FAILED_WITHIN = datetime.timedelta(days=7)
NEWEST_GOOD = "newest good"

# calendar unit -> bucket key of a UTC time (ISO weeks for weekly)
UNITS: dict[str, Callable[[datetime.datetime], str]] = {
    "hourly": lambda t: t.strftime("%Y-%m-%dT%H"),
    "daily": lambda t: t.strftime("%Y-%m-%d"),
    "weekly": lambda t: t.strftime("%G-W%V"),
    "monthly": lambda t: t.strftime("%Y-%m"),
    "yearly": lambda t: t.strftime("%Y"),
}


@dataclass(frozen=True)
class Candidate:
    """A backup as retention sees it."""

    id: str
    source: str
    started: datetime.datetime  # aware, UTC
    status: str
    parent: str | None = None

    @property
    def good(self) -> bool:
        return self.status in GOOD_STATUSES

    @classmethod
    def from_manifest(cls, m: Mapping[str, Any]) -> Candidate | None:
        """None for a damaged manifest, or one with no usable start time in it or its id."""
        if m.get("status") == "damaged":
            return None
        try:
            started = parse_time(str(m.get("started") or ""))
        except ValueError:
            try:  # no usable start time: the id's (YYYYMMDDTHHMMSSZ-...)
                started = datetime.datetime.strptime(str(m["id"])[:16], "%Y%m%dT%H%M%SZ")
            except ValueError:
                return None
            started = started.replace(tzinfo=datetime.UTC)
        parent = m.get("parent")
        return cls(str(m["id"]), source_name(m), started, str(m.get("status")), parent or None)


def parse_time(text: str) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.astimezone(datetime.UTC)


class RetentionRule(Protocol):
    """One ``--keep-*`` rule: which of a source's good backups it keeps, with the reason."""

    def select(self, newest_first: Sequence[Candidate]) -> dict[str, str]: ...


@dataclass(frozen=True)
class LastRule:
    count: int

    def select(self, newest_first: Sequence[Candidate]) -> dict[str, str]:
        chosen = newest_first if self.count == UNLIMITED else newest_first[: self.count]
        return {c.id: f"last {i}" for i, c in enumerate(chosen, 1)}


@dataclass(frozen=True)
class CalendarRule:
    unit: str  # a key of UNITS
    count: int

    def select(self, newest_first: Sequence[Candidate]) -> dict[str, str]:
        key, out, seen = UNITS[self.unit], {}, set[str]()
        for c in newest_first:
            if self.count != UNLIMITED and len(seen) >= self.count:
                break
            bucket = key(c.started)
            if bucket not in seen:
                seen.add(bucket)
                out[c.id] = f"{self.unit} {bucket}"
        return out


@dataclass(frozen=True)
class WithinRule:
    span: datetime.timedelta
    text: str  # as the user wrote it, for the reason

    def select(self, newest_first: Sequence[Candidate]) -> dict[str, str]:
        if not newest_first:
            return {}
        since = newest_first[0].started - self.span
        return {c.id: f"within {self.text}" for c in newest_first if c.started >= since}


@dataclass(frozen=True)
class RetentionPolicy:
    """``--keep-*`` counts (None: not set; -1: unlimited) and the failed-backup age."""

    last: int | None = None
    hourly: int | None = None
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None
    yearly: int | None = None
    within: WithinRule | None = None
    failed_within: datetime.timedelta = DEFAULT_FAILED_WITHIN

    def rules(self) -> list[RetentionRule]:
        out: list[RetentionRule] = []
        if self.last:
            out.append(LastRule(self.last))
        for unit in UNITS:
            count = getattr(self, unit)
            if count:
                out.append(CalendarRule(unit, count))
        if self.within is not None:
            out.append(self.within)
        return out

    @property
    def empty(self) -> bool:
        return not self.rules()

    def describe(self) -> str:
        parts = [f"keep-{u} {getattr(self, u)}" for u in ("last", *UNITS) if getattr(self, u)]
        if self.within is not None:
            parts.append(f"keep-within {self.within.text}")
        return ", ".join(parts) or "(empty)"


@dataclass
class Decision:
    id: str
    source: str
    started: str
    status: str
    keep: bool
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return vars(self).copy()


def plan_source(
    backups: Iterable[Candidate],
    policy: RetentionPolicy,
    now: datetime.datetime,
    newest_good: str | None = None,
) -> list[Decision]:
    """Decisions for the backups of ONE source, newest first.

    ``newest_good`` is the id the safety rule keeps (the repository's newest good
    backup of the source, whose key envelope exists); by default the newest good one.
    """
    ordered = sorted(backups, key=lambda c: (c.started, c.id), reverse=True)
    good = [c for c in ordered if c.good]
    reasons: dict[str, list[str]] = {c.id: [] for c in ordered}
    for rule in policy.rules():
        for bid, why in rule.select(good).items():
            reasons[bid].append(why)
    if newest_good is None and good:
        newest_good = good[0].id
    if newest_good in reasons:
        reasons[newest_good].append(NEWEST_GOOD)
    for c in ordered:
        if not c.good:
            removable = c.started + policy.failed_within
            if removable > now:
                reasons[c.id].append(f"failed, removable after {_stamp(removable)}")
    _keep_parents(ordered, reasons)
    return [
        Decision(c.id, c.source, _stamp(c.started), c.status, bool(reasons[c.id]), reasons[c.id])
        for c in ordered
    ]


def _keep_parents(ordered: Sequence[Candidate], reasons: dict[str, list[str]]) -> None:
    """The parent of a kept backup is kept, and its parent, ... (incremental chains)."""
    by_id = {c.id: c for c in ordered}
    todo = [c.id for c in ordered if reasons[c.id]]
    while todo:
        child = by_id[todo.pop()]
        parent = child.parent
        if parent is None or parent not in reasons:
            continue
        why = f"parent of {child.id}"
        if why not in reasons[parent]:
            first = not reasons[parent]
            reasons[parent].append(why)
            if first:
                todo.append(parent)


def group_by_source(backups: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    out: dict[str, list[Candidate]] = {}
    for c in backups:
        out.setdefault(c.source, []).append(c)
    return dict(sorted(out.items()))


def _stamp(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
