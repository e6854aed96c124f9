"""Point-in-time recovery: a base backup, then the archived binary logs up to a target.

Plan (:func:`plan_recovery`, all before anything is applied): the base is the given backup
or (``auto``) the newest good backup of the source with recorded binlog coordinates taken
before the target; the archived files from the base's coordinates on must be contiguous
(each file complete, the next numbered file next, no gap record in between); the target
must lie inside what is archived. Every segment is then decrypted and authenticated
(record MAC, chunk MACs, plaintext SHA-256) into a 0700 scratch directory, where the files
are reassembled and parsed to find the exact stop.

Target semantics (binlog event times have one-second resolution, UTC):

* ``--until TIME``: every transaction whose GTID event is stamped *before* TIME; the first
  one at or after TIME and everything later is not applied (exclusive);
* ``--until-gtid D-S-N``: up to and including that transaction;
* ``--until-position FILE:POS``: the events that start before POS in FILE (exclusive).

Apply (:class:`PitrBackup`): inside the all-or-nothing restore (``ops.restore``), the base
is loaded into the staging databases, then the events are replayed into them too
(``mariadb-binlog --database=DB --rewrite-db=DB->STAGING``, one pass per database), and
only then does the one atomic swap run. A failure anywhere drops the staging databases.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository
from dbseal.catalog.segments import Gap, Segment, SegmentIndex, iso, split_key
from dbseal.catalog.source_names import source_name
from dbseal.errors import (
    BinlogGap,
    NoPitrBase,
    PitrTargetUnavailable,
    UsageError,
)

_GTID = re.compile(r"^\d+-\d+-\d+$")


@dataclass(frozen=True)
class Target:
    kind: str  # time | gtid | position
    time: datetime.datetime | None = None
    gtid: str | None = None
    file: str | None = None
    pos: int | None = None

    def describe(self) -> str:
        if self.kind == "time":
            assert self.time is not None
            return f"before {self.time.isoformat()} (exclusive)"
        if self.kind == "gtid":
            return f"up to and including GTID {self.gtid}"
        return f"events starting before {self.file}:{self.pos}"


def parse_target(until: str | None, gtid: str | None, position: str | None) -> Target | None:
    given = [x for x in (until, gtid, position) if x]
    if not given:
        return None
    if len(given) > 1:
        raise UsageError("give one of --until, --until-gtid, --until-position")
    if until:
        try:
            when = datetime.datetime.fromisoformat(until.strip().replace(" ", "T", 1))
        except ValueError:
            raise UsageError(
                f"invalid --until {until!r}",
                hint="write 'YYYY-MM-DD HH:MM:SS[+HH:MM]' (UTC by default)",
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return Target("time", time=when.astimezone(datetime.UTC))
    if gtid:
        if not _GTID.match(gtid):
            raise UsageError(
                f"invalid --until-gtid {gtid!r}", hint="write DOMAIN-SERVER-SEQ, e.g. 0-1-42"
            )
        return Target("gtid", gtid=gtid)
    assert position is not None
    file, _, pos = position.rpartition(":")
    if not file or not pos.isdigit():
        raise UsageError(
            f"invalid --until-position {position!r}",
            hint="write FILE:POS, e.g. mysql-bin.000003:1234",
        )
    return Target("position", file=file, pos=int(pos))


def binlog_source_of(manifest: Mapping[str, Any]) -> str:
    """The name a backup's server is archived under: its dbseal.toml name, else HOST:PORT."""
    name = manifest.get("name")
    return str(name) if name else source_name(manifest).split("/", 1)[0]


def _coords(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """A backup's binlog coordinates: the logical dump's ``binlog``, or a physical backup's
    (``physical.binlog``, from mariadb-backup's binlog info)."""
    physical = manifest.get("physical")
    for c in (
        manifest.get("binlog"),
        physical.get("binlog") if isinstance(physical, dict) else None,
    ):
        if isinstance(c, dict) and c.get("file") and c.get("position"):
            return c
    return None


def _logical(manifest: Mapping[str, Any]) -> bool:
    """The replay goes into the staging databases of a logical restore: physical bases
    (a whole data directory) are not supported yet."""
    return bool(manifest.get("method", "logical") != "physical")


def _started(m: Mapping[str, Any]) -> datetime.datetime:
    return datetime.datetime.fromisoformat(str(m.get("started")))


def choose_base(repo: Repository, ref: str, target: Target, source: str | None) -> dict[str, Any]:
    """The base backup: ``ref``, or for ``auto`` the newest good one before the target."""
    if ref != "auto":
        m = repo.manifest(repo.resolve(ref, source))
        if _coords(m) is None:
            raise NoPitrBase(f"backup {m['id']} recorded no binary-log coordinates")
        if not _logical(m):
            raise NoPitrBase(
                f"backup {m['id']} is a physical backup: point-in-time recovery replays into "
                "a logical restore's staging databases and takes logical bases only (for now)"
            )
        return m
    good = [
        m
        for m in repo.manifests()
        if m.get("status") in mf.GOOD_STATUSES
        and _coords(m) is not None
        and _logical(m)
        and (source is None or binlog_source_of(m) == source or source_name(m) == source)
        and (target.time is None or _started(m) < target.time)
    ]
    names = {binlog_source_of(m) for m in good}
    if len(names) > 1:
        raise UsageError(
            f"`auto` is ambiguous: good base backups of {', '.join(sorted(names))}",
            hint="pass --source NAME",
        )
    if not good:
        raise NoPitrBase("no good backup with binary-log coordinates before the target")
    good.sort(key=lambda m: (str(m.get("started")), str(m["id"])))
    return good[-1]


@dataclass
class FileChain:
    """One archived file instance: its segments, contiguous from 0."""

    name: str
    created: int
    segments: list[Segment]

    @property
    def end(self) -> int:
        return self.segments[-1].end

    @property
    def final(self) -> bool:
        return self.segments[-1].final


def _files(index: SegmentIndex) -> list[FileChain]:
    out: list[FileChain] = []
    for s in index.segments:
        if out and out[-1].name == s.file and out[-1].created == s.file_created:
            out[-1].segments.append(s)
        else:
            out.append(FileChain(s.file, s.file_created, [s]))
    return out


@dataclass
class PitrPlan:
    base: dict[str, Any]
    source: str
    target: Target
    start: tuple[str, int]
    files: list[FileChain] = field(default_factory=list)
    stop: tuple[str, int] | None = None  # exclusive; None: the end of the last file
    first: dict[str, Any] | None = None  # first transaction applied
    last: dict[str, Any] | None = None  # last transaction applied
    applied: int = 0
    scratch: Path | None = None
    paths: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base["id"],
            "base_coordinates": _coords(self.base),
            "source": self.source,
            "target": self.target.describe(),
            "segments": [
                {"file": s.file, "start": s.start, "end": s.end, "final": s.final}
                for f in self.files
                for s in f.segments
            ],
            "start": {"file": self.start[0], "position": self.start[1]},
            "stop": None if self.stop is None else {"file": self.stop[0], "position": self.stop[1]},
            "first_transaction": self.first,
            "last_transaction": self.last,
            "transactions": self.applied,
        }


def _gap_after(gaps: Sequence[Gap], f: FileChain) -> Gap | None:
    return next((g for g in gaps if g.after_file == f.name), None)


def plan_recovery(
    repo: Repository, ref: str, target: Target, source: str | None = None
) -> PitrPlan:
    """Choose the base and the archived files (no key needed); refuse what cannot be reached."""
    base = choose_base(repo, ref, target, source)
    coords = _coords(base)
    assert coords is not None
    name = binlog_source_of(base)
    index = SegmentIndex(repo.backend, name).load()
    files = _files(index)
    start = (str(coords["file"]), int(coords["position"]))
    at = next(
        (
            i
            for i in range(len(files) - 1, -1, -1)
            if files[i].name == start[0] and files[i].end >= start[1]
        ),
        None,
    )
    if at is None or files[at].segments[0].start != 0:
        raise PitrTargetUnavailable(
            f"the binary logs of {name} are not archived from backup {base['id']}'s position "
            f"{start[0]}:{start[1]}"
        )
    plan = PitrPlan(base, name, target, start)
    plan.files.append(files[at])
    covered = files[at].end
    for f in files[at + 1 :]:
        prev = plan.files[-1]
        if _reached(plan, prev):
            break
        b, n = split_key(prev.name)
        if not prev.final or split_key(f.name) != (b, n + 1) or f.segments[0].start != 0:
            gap = _gap_after(index.gaps, prev)
            what = gap.describe() if gap else f"{prev.name} is followed by {f.name}"
            raise BinlogGap(f"recovery {target.describe()} crosses a gap in {name}'s logs: {what}")
        plan.files.append(f)
        covered = f.end
    _check_covered(plan, index, covered)
    return plan


def _reached(plan: PitrPlan, f: FileChain) -> bool:
    t = plan.target
    segs = f.segments
    if t.kind == "time":
        assert t.time is not None
        return any(s.last_time is not None and s.last_time >= t.time.timestamp() for s in segs)
    if t.kind == "gtid":
        return any(s.first_gtid and _in_range(t.gtid, s.first_gtid, s.last_gtid) for s in segs)
    return f.name == t.file


def _in_range(g: str | None, first: str, last: str | None) -> bool:
    if g is None or last is None:
        return False
    d, _, n = g.split("-")
    fd, _, fn = first.split("-")
    ld, _, ln = last.split("-")
    return d == fd == ld and int(fn) <= int(n) <= int(ln)


def _check_covered(plan: PitrPlan, index: SegmentIndex, covered: int) -> None:
    t = plan.target
    last = plan.files[-1]
    if _reached(plan, last):
        return
    if t.kind == "time":
        assert t.time is not None
        newest = max(
            [
                max(s.last_time or 0, int(datetime.datetime.fromisoformat(s.archived).timestamp()))
                for f in plan.files
                for s in f.segments
            ]
        )
        if t.time.timestamp() <= newest:
            return
        why = f"archived up to {iso(newest)}"
    elif t.kind == "gtid":
        why = f"GTID {t.gtid} is in no archived segment from the base on"
    else:
        why = f"{t.file} is not archived after the base"
    gaps = [g for g in index.gaps if g.after_file == last.name]
    if gaps:
        raise BinlogGap(f"recovery {t.describe()} crosses a gap: {gaps[0].describe()}")
    raise PitrTargetUnavailable(
        f"recovery {t.describe()} is beyond what is archived of {plan.source} "
        f"({why}, {last.name}:{covered}); nothing was applied"
    )


def recovery_window(repo: Repository, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """How far a backup can be rolled forward with the archived binlogs (no key needed).

    ``{"usable": bool, "until": ISO time or None, "reason": str}``: ``until`` is the newest
    archived event reachable from the backup's coordinates without crossing a gap; the
    reason says why a backup is not usable (no coordinates, a physical base, nothing
    archived from its position) or where its window stops (a gap, the newest archive).
    """
    coords = _coords(manifest)
    if coords is None:
        return {"usable": False, "until": None, "reason": "no binlog coordinates recorded"}
    if not _logical(manifest):
        return {
            "usable": False,
            "until": None,
            "reason": "a physical base (point-in-time recovery replays into a logical restore)",
        }
    name = binlog_source_of(manifest)
    index = SegmentIndex(repo.backend, name).load()
    files = _files(index)
    start = (str(coords["file"]), int(coords["position"]))
    at = next(
        (
            i
            for i in range(len(files) - 1, -1, -1)
            if files[i].name == start[0] and files[i].end >= start[1]
        ),
        None,
    )
    if at is None or files[at].segments[0].start != 0:
        return {
            "usable": False,
            "until": None,
            "reason": f"no binlogs of {name} archived from {start[0]}:{start[1]}",
        }
    walked = [files[at]]
    stop = f"up to the newest archived event of {name}"
    for f in files[at + 1 :]:
        prev = walked[-1]
        b, n = split_key(prev.name)
        if not prev.final or split_key(f.name) != (b, n + 1) or f.segments[0].start != 0:
            gap = _gap_after(index.gaps, prev)
            stop = f"stops at a gap: {gap.describe() if gap else f'{prev.name} -> {f.name}'}"
            break
        walked.append(f)
    else:
        gap = _gap_after(index.gaps, walked[-1])
        if gap is not None:
            stop = f"stops at a gap: {gap.describe()}"
    times = [s.last_time for f in walked for s in f.segments if s.last_time is not None]
    until = iso(max(times)) if times else str(manifest.get("ended") or manifest.get("started"))
    return {"usable": True, "until": until, "reason": stop}
