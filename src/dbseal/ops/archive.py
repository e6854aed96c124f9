"""Archive a server's binary logs into the repository as sealed segments (`dbseal binlog archive`).

The archiver resumes from the segment index (:mod:`dbseal.catalog.segments`): the last
record says which file and position come next. It asks the server which logs it has
(``SHOW BINARY LOGS``) and decides where to start; what it cannot archive any more is a
**gap**, recorded and reported, never skipped silently:

* the next file is missing while later ones exist (purged before it was archived);
* the log base changed (``log_bin`` renamed);
* the last archived file is gone and no later file exists, or it is smaller than what
  was archived, or its format description has another creation time (``RESET MASTER``);
* a new file's starting GTID state is ahead of the last archived GTID of a domain.

It then streams (``mariadb-binlog``, :mod:`dbseal.engines.mariadb.binlog_stream`) into a
0700 scratch directory and seals whole events only: a complete file as its last segment
(``final``), the file being written as partial segments every ``flush_interval`` seconds,
so a crash loses at most that much. A segment's sealed object is written before its
record, so a kill at any moment leaves either both or an unreferenced object; the next
run starts after the last record: no gap and no duplicate. A dropped connection or a
restarted server makes ``--follow`` reconnect with backoff (0.5 s doubling to 30 s).
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository
from dbseal.catalog.segments import KIND, Gap, Segment, SegmentIndex, object_name, split_key
from dbseal.codecs import Codec, parse_codec
from dbseal.crypto.recipients import Recipient
from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import binlog_events as be
from dbseal.engines.mariadb.binlog_stream import (
    BinlogStream,
    ServerLogs,
    remove_scratch,
    scratch_dir,
    server_logs,
)
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.errors import BinlogArchiveError, BinlogGap
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.seal import seal_stream
from dbseal.storage import Handle

MAX_BACKOFF = 30.0
_POLL = 0.2


@dataclass
class ArchiveOptions:
    follow: bool = False
    flush_interval: float = 60.0
    scratch_parent: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)  # ends --follow cleanly


@dataclass
class _File:
    """Progress in one scratch file: bytes consumed there, and the absolute position next."""

    name: str
    next_pos: int
    scratch_off: int = 0
    created: int | None = None
    gtid_list: list[str] = field(default_factory=list)


@dataclass
class _Run:
    """The contiguous new events of one scratch file that the next segment holds."""

    events: int = 0
    file_start: int = 0  # offsets in the scratch file
    file_end: int = 0
    end: int = 0  # absolute position after the last event
    last_type: int = -1
    server_id: int = 0
    first_gtid: str | None = None
    last_gtid: str | None = None
    first_time: int | None = None
    last_time: int | None = None

    def add(self, ev: be.Event) -> None:
        if not self.events:
            self.file_start, self.server_id = ev.at, ev.server_id
        self.events += 1
        self.file_end, self.end, self.last_type = ev.at + ev.size, ev.end, ev.type
        g = ev.gtid()
        if g:
            self.first_gtid = self.first_gtid or g
            self.last_gtid = g
        t = ev.timestamp
        self.first_time = t if self.first_time is None else min(self.first_time, t)
        self.last_time = t if self.last_time is None else max(self.last_time, t)


class _Range:
    """``length`` bytes of an open file from where it is positioned (a segment's plaintext)."""

    def __init__(self, fh: Any, length: int) -> None:
        self._fh, self._left = fh, length

    def read(self, n: int = -1, /) -> bytes:
        if self._left <= 0:
            return b""
        block: bytes = self._fh.read(self._left if n < 0 else min(n, self._left))
        self._left -= len(block)
        return block


class _Restart(Exception):
    """The stream showed a gap (a recreated file): plan again from the server's logs."""


class Archiver:
    def __init__(
        self,
        repo: Repository,
        source: str,
        target: MySQLTarget,
        password: Secret | None,
        recipients: Sequence[Recipient],
        codec: Codec | None = None,
        reporter: Reporter | None = None,
        options: ArchiveOptions | None = None,
    ) -> None:
        self.repo, self.source, self.target, self.password = repo, source, target, password
        self.recipients = list(recipients)
        self.codec = codec or parse_codec("zstd:3")
        self.reporter = reporter or NullReporter()
        self.options = options or ArchiveOptions()
        self.index = SegmentIndex(repo.backend, source).load()
        self.written: list[Segment] = []
        self.new_gaps: list[Gap] = []
        self._server_id = 0
        self._restart_at: tuple[str, int] | None = None
        self._last_seal = time.monotonic()
        self._fresh_gap = False  # a gap was just recorded: the next file's GTID check is moot

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        backoff = 0.5
        while not self.options.stop.is_set():
            try:
                logs = server_logs(self.target, self.password)
                self._server_id = logs.server_id
                start = self._resume_point(logs)
                if start is not None:
                    self._stream(*start)
                backoff = 0.5
                if not self.options.follow:
                    break
                if start is None:
                    self.options.stop.wait(max(_POLL, min(self.options.flush_interval, 1.0)))
            except _Restart:
                continue
            except BinlogArchiveError as exc:
                if not self.options.follow:
                    raise
                self.reporter.event("binlog.reconnect", error=exc.message, wait_s=backoff)
                self.options.stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
        return self.result()

    def result(self) -> dict[str, Any]:
        last = self.index.last()
        return {
            "source": self.source,
            "segments_written": len(self.written),
            "bytes_written": sum(s.end - s.start for s in self.written),
            "archived_to": None
            if last is None
            else {"file": last.file, "position": last.end, "gtid": last.last_gtid},
            "new_gaps": [g.describe() for g in self.new_gaps],
            "gaps": [g.describe() for g in self.index.gaps],
        }

    def raise_for_gaps(self) -> None:
        if self.new_gaps:
            raise BinlogGap(
                f"binary logs of {self.source} could not all be archived: "
                + "; ".join(g.describe() for g in self.new_gaps)
            )

    # -- where to start ------------------------------------------------------------------

    def _resume_point(self, logs: ServerLogs) -> tuple[str, int] | None:
        """(file, position) to stream from, recording a gap when the logs do not continue."""
        names = logs.names()
        if not names:
            raise BinlogArchiveError(f"the server at {self.target.address()} lists no binary log")
        if self._restart_at is not None:
            start, self._restart_at = self._restart_at, None
            return start
        last = self.index.last()
        if last is None:
            return names[0], 0
        base, seq = split_key(last.file)
        if last.file in names:
            size = logs.size_of(last.file) or 0
            if size < last.end:
                return self._gap(
                    last, names[0], f"{last.file} is shorter than archived (RESET MASTER?)"
                )
            if not last.final:
                return last.file, last.end
            later = [n for n in names if split_key(n)[0] == base and split_key(n)[1] > seq]
            if not later:
                return None
            if split_key(later[0])[1] != seq + 1:
                return self._gap(
                    last, later[0], f"{base}.{seq + 1:06d} was purged before it was archived"
                )
            return later[0], 0
        same_base = [n for n in names if split_key(n)[0] == base]
        if not same_base:
            return self._gap(
                last, names[0], f"the log base changed from {base} to {split_key(names[0])[0]}"
            )
        later = [n for n in same_base if split_key(n)[1] > seq]
        if not later:
            return self._gap(
                last, same_base[0], f"{last.file} is gone and no later log exists (RESET MASTER?)"
            )
        if last.final and split_key(later[0])[1] == seq + 1:
            return later[0], 0
        missing = (
            f"{last.file} from position {last.end}" if not last.final else f"{base}.{seq + 1:06d}"
        )
        return self._gap(last, later[0], f"{missing} was purged before it was archived")

    def _gap(self, last: Segment | None, resume: str, reason: str) -> tuple[str, int]:
        gap = Gap(
            self.source,
            datetime.datetime.now(datetime.UTC).isoformat(),
            reason,
            last.file if last else None,
            last.end if last else None,
            last.last_time if last else None,
            resume,
        )
        self.index.add_gap(gap)
        self.new_gaps.append(gap)
        self._fresh_gap = True
        self.reporter.event("binlog.gap", source=self.source, gap=gap.describe())
        return resume, 0

    # -- streaming -----------------------------------------------------------------------

    def _stream(self, file: str, position: int) -> None:
        scratch = scratch_dir(self.options.scratch_parent)
        try:
            with BinlogStream(
                self.target, self.password, scratch, file, position, self.options.follow
            ) as stream:
                self._pump(stream, scratch, _File(file, position))
        finally:
            remove_scratch(scratch)

    def _pump(self, stream: BinlogStream, scratch: Path, cur: _File) -> None:
        options_removed = False
        while True:
            rc = stream.poll()
            if not options_removed and (rc is not None or any(scratch.iterdir())):
                stream.remove_options()
                options_removed = True
            stopping = rc is not None or self.options.stop.is_set()
            cur = self._drain(scratch, cur, force=stopping)
            if self.options.stop.is_set():
                return
            if rc is not None:
                if rc != 0:
                    raise BinlogArchiveError(
                        f"mariadb-binlog stopped reading {self.target.address()} "
                        f"(exit status {rc}): {stream.error_text() or 'no message'}"
                    )
                return
            self.options.stop.wait(_POLL)

    def _drain(self, scratch: Path, cur: _File, force: bool) -> _File:
        """Seal what the scratch files hold; returns the file now being read."""
        while True:
            files = sorted(
                (p.name for p in scratch.iterdir() if not p.name.startswith(".")),
                key=lambda n: split_key(n)[1],
            )
            if cur.name not in files:
                return cur
            later = [n for n in files if split_key(n)[1] > split_key(cur.name)[1]]
            due = force or time.monotonic() - self._last_seal >= self.options.flush_interval
            final = self._take(scratch / cur.name, cur, closed=bool(later), due=due)
            if not final:
                return cur
            (scratch / cur.name).unlink(missing_ok=True)
            if not later:
                return cur
            cur = _File(later[0], 0)

    def _take(self, path: Path, cur: _File, closed: bool, due: bool) -> bool:
        """Seal the new whole events of ``path``; True when the file is complete and sealed."""
        if not (due or closed):
            return False
        run = _Run()
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            scanned = cur.scratch_off
            for ev in be.scan(fh, cur.scratch_off, artificial=True):
                scanned = ev.at + ev.size
                if ev.type == be.FORMAT_DESCRIPTION and cur.created is None:
                    self._check_created(cur, ev.timestamp)
                if ev.type == be.GTID_LIST and cur.next_pos == 0 and not cur.gtid_list:
                    cur.gtid_list = ev.gtid_list()
                    self._check_gtid_list(cur)
                if ev.artificial or ev.start < cur.next_pos:
                    continue  # the format description a resumed stream starts with
                expected = run.end if run.events else (cur.next_pos or 4)
                if ev.start != expected:
                    raise BinlogArchiveError(
                        f"the stream of {cur.name} jumped from position {expected} to {ev.start}"
                    )
                run.add(ev)
            final = run.last_type in (be.ROTATE, be.STOP) or (closed and scanned == size)
            last = self.index.last()
            if final and not run.events and last and last.file == cur.name and not last.final:
                run.end, run.server_id = cur.next_pos, last.server_id  # ended without rotate
                self._seal(cur, _Range(fh, 0), run, final)  # (a crash): an empty final segment
            elif run.events:
                start = cur.next_pos  # 0: a new file, sealed with its magic
                first = 0 if start == 0 else run.file_start
                fh.seek(first)
                self._seal(cur, _Range(fh, run.file_end - first), run, final)
                cur.scratch_off = run.file_end
        return final

    def _check_created(self, cur: _File, created: int) -> None:
        cur.created = created
        if cur.next_pos == 0:
            return
        known = [s for s in self.index.segments if s.file == cur.name]
        if known and known[-1].file_created != created:
            self._gap(known[-1], cur.name, f"{cur.name} was created anew (RESET MASTER?)")
            self._restart_at = (cur.name, 0)
            raise _Restart

    def _check_gtid_list(self, cur: _File) -> None:
        """A file's starting GTID state must not be ahead of what was archived."""
        if self._fresh_gap:
            return
        last_seq: dict[str, int] = {}
        for seg in self.index.segments:
            if seg.last_gtid:
                d, _, n = seg.last_gtid.split("-")
                last_seq[d] = int(n)
        if not last_seq:
            return
        for g in cur.gtid_list:
            d, _, n = g.split("-")
            if d in last_seq and int(n) > last_seq[d]:
                last = self.index.last()
                gap = f"transactions {d}-?-{last_seq[d] + 1}..{n} are in no archived log"
                self._gap(last, cur.name, gap)
                return

    def _seal(self, cur: _File, body: _Range, run: _Run, final: bool) -> None:
        start = cur.next_pos
        seg = Segment(
            source=self.source,
            server_id=self._server_id or run.server_id,
            file=cur.name,
            start=start,
            end=run.end,
            final=final,
            file_created=cur.created or 0,
            first_gtid=run.first_gtid,
            last_gtid=run.last_gtid,
            first_time=run.first_time,
            last_time=run.last_time,
            events=run.events,
            gtid_list=cur.gtid_list if start == 0 else [],
        )
        seg.object = object_name(self.source, cur.name, start)
        with self.repo.backend.writer(Handle(KIND, seg.object)) as out:
            res = seal_stream(
                body,
                out,
                self.recipients,
                self.codec,
                {"kind": "binlog", "source": self.source, "file": cur.name, "start": start},
                hash_plaintext=True,
            )
        seg.file_id = res.file_id.hex()
        seg.plaintext_sha256 = res.plaintext_sha256.hex() if res.plaintext_sha256 else ""
        seg.archived = datetime.datetime.now(datetime.UTC).isoformat()
        seg.mac = mf.sign(seg.to_json(), mf.manifest_key(res.data_key.reveal(), res.file_id))["mac"]
        self.index.add(seg)
        self.written.append(seg)
        cur.next_pos = seg.end
        self._last_seal = time.monotonic()
        self._fresh_gap = False
        self.reporter.event(
            "binlog.segment", file=seg.file, start=seg.start, end=seg.end, final=final
        )
