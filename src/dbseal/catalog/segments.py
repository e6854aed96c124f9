"""The index of archived log segments (MariaDB binary logs; engine-agnostic in form).

A *segment* is a byte range ``[start, end)`` of one server log file, cut at event
boundaries, stored as one sealed object. A file's segments are contiguous: the first
starts at 0 (with the file's magic and format description), each next one starts where
the one before ended, and the one with ``final`` ends the file. Concatenated, they are
the file's bytes.

Layout, under the storage kind ``binlog`` (``binlogs/`` in a local repository)::

    <source key>/<file>.<start:012d>.<rand>.dbseal  the sealed bytes (stanzas inside)
    <source key>/<file>.<created>.<start:012d>.json the segment's record, written last
    <source key>/gap-<time>-<rand>.json             a gap the archiver detected

A record is authenticated like a backup manifest (``mac``: HMAC under a key derived from
the sealed object's data key and file id), so only a key holder can change it undetected;
anyone can read it (``dbseal binlog status`` needs no key). The source key is the source
name made safe for object names, plus a hash of the name.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dbseal.errors import ObjectNotFound, RepositoryError
from dbseal.storage import Backend, Handle

KIND = "binlog"
SEGMENT_FORMAT = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def source_key(source: str) -> str:
    """An object-name-safe, unique key for a source name (``db1:3306`` -> ``db1_3306-1a2b3c4d``)."""
    safe = _UNSAFE.sub("_", source).strip("._-")[:60] or "source"
    return f"{safe}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


@dataclass
class Segment:
    """One archived range of one log file (see the module text)."""

    source: str
    server_id: int
    file: str
    start: int
    end: int
    final: bool
    file_created: int  # the file's format-description timestamp: tells a reused name apart
    first_gtid: str | None = None
    last_gtid: str | None = None
    first_time: int | None = None  # event timestamps (UTC epoch seconds)
    last_time: int | None = None
    events: int = 0
    gtid_list: list[str] = field(default_factory=list)  # the file's starting GTID state
    object: str = ""
    file_id: str = ""
    plaintext_sha256: str = ""
    archived: str = ""
    mac: str = ""

    @property
    def record_name(self) -> str:
        return f"{source_key(self.source)}/{self.file}.{self.file_created}.{self.start:012d}.json"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["dbseal_binlog_segment"] = SEGMENT_FORMAT
        doc["first_time_utc"] = iso(self.first_time)
        doc["last_time_utc"] = iso(self.last_time)
        return doc

    @classmethod
    def from_json(cls, doc: Any, name: str) -> Segment:
        if not isinstance(doc, dict) or doc.get("dbseal_binlog_segment") != SEGMENT_FORMAT:
            raise RepositoryError(f"binlog segment record {name!r} is not of a supported format")
        known = {f for f in cls.__dataclass_fields__}
        try:
            return cls(**{k: v for k, v in doc.items() if k in known})
        except TypeError as exc:
            raise RepositoryError(f"binlog segment record {name!r} is invalid ({exc})") from None


@dataclass
class Gap:
    """Archived logs stop at ``after`` and the server's resume at ``before``: what is lost."""

    source: str
    detected: str
    reason: str
    after_file: str | None
    after_pos: int | None
    after_time: int | None
    before_file: str | None
    before_time: int | None = None

    def describe(self) -> str:
        where = f"after {self.after_file}:{self.after_pos}" if self.after_file else "at the start"
        nxt = f", archiving resumed at {self.before_file}" if self.before_file else ""
        return f"gap {where} ({iso(self.after_time) or '?'}){nxt}: {self.reason}"


def split_key(name: str) -> tuple[str, int]:
    """``mysql-bin.000012`` -> (``mysql-bin``, 12): the base and the number of a log file."""
    base, _, num = name.rpartition(".")
    if not base or not num.isdigit():
        return name, -1
    return base, int(num)


class SegmentIndex:
    """The records of one source, read once and kept up to date by the archiver."""

    def __init__(self, backend: Backend, source: str) -> None:
        self.backend, self.source = backend, source
        self.key = source_key(source)
        self.segments: list[Segment] = []
        self.gaps: list[Gap] = []

    def load(self) -> SegmentIndex:
        names = self.backend.list(KIND, prefix=f"{self.key}/")
        segs, gaps = [], []
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                doc = json.loads(self.backend.get(Handle(KIND, name)))
            except ObjectNotFound:
                continue
            except ValueError:
                raise RepositoryError(f"binlog record {name!r} is damaged (not JSON)") from None
            if name.split("/", 1)[-1].startswith("gap-"):
                known = set(Gap.__dataclass_fields__)
                gaps.append(Gap(**{k: v for k, v in doc.items() if k in known}))
            else:
                segs.append(Segment.from_json(doc, name))
        # archive order: a file's creation time first (a RESET MASTER reuses names)
        segs.sort(key=lambda s: (s.file_created, split_key(s.file)[1], s.start))
        gaps.sort(key=lambda g: g.detected)
        self.segments, self.gaps = segs, gaps
        return self

    def last(self) -> Segment | None:
        return self.segments[-1] if self.segments else None

    def add(self, seg: Segment) -> None:
        self.backend.put(Handle(KIND, seg.record_name), _encode(seg.to_json()))
        self.segments.append(seg)

    def add_gap(self, gap: Gap) -> None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
        name = f"{self.key}/gap-{stamp}-{os.urandom(3).hex()}.json"
        self.backend.put(Handle(KIND, name), _encode(asdict(gap)))
        self.gaps.append(gap)

    def files(self) -> list[str]:
        """The archived files, in order (one entry per file)."""
        out: list[str] = []
        for s in self.segments:
            if not out or out[-1] != s.file:
                out.append(s.file)
        return out

    def of_file(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.file == name]


def object_name(source: str, file: str, start: int) -> str:
    return f"{source_key(source)}/{file}.{start:012d}.{os.urandom(4).hex()}.dbseal"


def _encode(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()


def sources(backend: Backend) -> list[str]:
    """The source names that have binlog records."""
    seen: dict[str, str] = {}
    for name in backend.list(KIND):
        key = name.split("/", 1)[0]
        if key in seen or not name.endswith(".json"):
            continue
        try:
            doc = json.loads(backend.get(Handle(KIND, name)))
        except (ObjectNotFound, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("source"), str):
            seen[key] = doc["source"]
    return sorted(seen.values())


def lag_and_gaps(backend: Backend, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per source: seconds since the newest archived event, and the gaps (for `dbseal check`).

    ``{"shop": {"lag_s": 12.0, "archived_to": {...}, "gaps": ["gap after ...", ...]}}``;
    ``lag_s`` is None when nothing is archived. Reads records only: no key, no server.
    """
    import time

    out: dict[str, dict[str, Any]] = {}
    for name in names if names is not None else sources(backend):
        idx = SegmentIndex(backend, name).load()
        last = idx.last()
        times = [s.last_time for s in idx.segments if s.last_time is not None]
        newest = max(times) if times else None
        out[name] = {
            "lag_s": round(time.time() - newest, 1) if newest is not None else None,
            "archived_to": None
            if last is None
            else {
                "file": last.file,
                "position": last.end,
                "gtid": next((s.last_gtid for s in reversed(idx.segments) if s.last_gtid), None),
                "time": iso(newest),
            },
            "gaps": [g.describe() for g in idx.gaps],
        }
    return out
