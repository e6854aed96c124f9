"""``ParallelClientSink``: restore a dump over several ``mariadb`` connections at once.

One connection executing 1 MB INSERTs keeps one server core busy; the rest idle. This
sink runs ``jobs`` clients (each exactly as :class:`MysqlClientSink` runs one) and
splits the dump with :class:`DumpSplitter`:

* everything that is not table rows (DDL, views, routines, triggers, events, session
  settings) goes to lane 0, in order;
* a table whose rows fill one INSERT statement goes to lane 0 too;
* a table with more statements has them dealt to the lane with the least queued, after
  lane 0 has executed everything before them (its ``CREATE TABLE``, checked with
  :meth:`MysqlClientSink.sync`); and lane 0 goes on only once every lane has executed
  them, so a trigger, a view or ``ENABLE KEYS`` after the rows sees all of them.

With ``defer_keys`` (the default) an InnoDB table's secondary keys and foreign keys are
cut out of its ``CREATE TABLE`` (:mod:`~dbseal.engines.mariadb.deferred_keys`) and added by
one ``ALTER TABLE`` once its rows are in, on a lane other than 0, so that the index build
overlaps the next table's load; :meth:`ParallelClientSink.close` returns after it.

The other lanes first get the dump's opening session settings (character set, time zone,
``SQL_MODE``, ``FOREIGN_KEY_CHECKS=0``, ``UNIQUE_CHECKS=0``), the current ``USE`` and
the current ``system_versioning_insert_history`` (``--dump-history`` sets it around the
rows of a system-versioned table, which carry their ``row_start``/``row_end``).
``LOCK TABLES``/``UNLOCK TABLES`` lines are dropped: a write lock held by lane 0 would
stop the others (for InnoDB the lock does nothing for a restore; MyISAM and Aria tables
load a little slower without it). Rows inside ``DELIMITER`` blocks (routine and trigger
bodies) are never split off. Each INSERT is its own transaction, as with one client.

The first error of any client ends the restore (the others are stopped), as with one
client; what was applied stays applied, so restores authenticate first (``ops.restore``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.connect import connect
from dbseal.engines.mariadb.deferred_keys import defer_keys
from dbseal.engines.mariadb.mysql_sink import MysqlClientSink, SinkResult
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.rename import RenameFilter
from dbseal.engines.mariadb.tabledigest import NEED_MORE, InsertHead, insert_head

_INSERT = b"\nINSERT INTO `"
_DELIM = b"\nDELIMITER "
_LOCKS = (b"\nLOCK TABLES ", b"\nUNLOCK TABLES;\n")
_USE = b"\nUSE `"
_HISTORY = b"\n/*M!101100 SET "  # mariadb-dump --dump-history around versioned rows
_HISTORY_ON = b"@@session.system_versioning_insert_history=1 "
_CREATE = b"\nCREATE TABLE `"
_CREATE_END = b"\n) "
_MAX_CREATE = 1 << 20  # a longer CREATE TABLE goes through as it is
DEFAULT_JOBS = 2  # measured: 1.69x faster than one connection on 2 cores (docs/benchmarks.md)
MAX_JOBS = 16
_LANE_BYTES = 4 << 20  # queued per lane before the producer waits
_MAX_LINE = 64 << 10


@dataclass(frozen=True)
class Piece:
    """A run of the dump: ``rows`` is the table (``(db, table)``) of one INSERT statement."""

    data: bytes
    rows: tuple[str, str] | None = None
    # a CREATE TABLE whose secondary keys were cut out: its table and the ALTER adding them
    deferred: tuple[tuple[str, str], bytes] | None = None


class DumpSplitter:
    """Cuts a dump into serial text and whole INSERT statements, in stream order.

    :attr:`preamble` is the dump's opening (its comment and ``/*!...*/`` setting lines);
    :attr:`database` the database of the last ``USE`` line.
    """

    def __init__(self, defer: bool = False) -> None:
        self._defer = defer
        self._buf = b"\n"
        self._delimited = False
        self._head = bytearray()  # the first serial bytes, for the preamble
        self._found: dict[bytes, int] = {}
        self.database = ""
        self.history = False  # system_versioning_insert_history, as the dump set it last

    @property
    def preamble(self) -> bytes:
        lines = bytes(self._head).split(b"\n")
        keep = []
        for line in lines[:-1]:
            if line and not line.startswith((b"/*", b"--")):
                break
            keep.append(line + b"\n")
        return b"".join(keep)

    def feed(self, data: bytes) -> Iterator[Piece]:
        buf = self._buf + data
        pos, self._buf, self._found = 0, b"", {}
        while pos < len(buf):
            nxt = self._step(buf, pos)
            if nxt is None:
                self._buf = buf[pos:]
                return
            piece, pos = nxt
            if piece is not None and piece.data:
                yield piece

    def flush(self) -> Iterator[Piece]:
        rest, self._buf = self._buf, b""
        if rest:
            yield self._serial(rest)

    def _find(self, buf: bytes, mark: bytes, pos: int) -> int:
        """``buf.find(mark, pos)``, remembered for the rest of this block (no rescans)."""
        at = self._found.get(mark, -2)
        if at == -2 or -1 < at < pos:
            at = self._found[mark] = buf.find(mark, pos)
        return at

    def _step(self, buf: bytes, pos: int) -> tuple[Piece | None, int] | None:
        """The next piece from ``pos`` and where to go on; None: wait for more input."""
        if self._delimited:
            end = self._find(buf, b"\nDELIMITER ;\n", pos)
            if end < 0:
                return self._until(buf, pos, len(buf) - 16)
            self._delimited = False
            return self._serial(buf[pos : end + 1]), end + 1
        found = [
            (i, m)
            for m in (
                _INSERT,
                _USE,
                _DELIM,
                _HISTORY,
                *_LOCKS,
                *((_CREATE,) if self._defer else ()),
            )
            if (i := self._find(buf, m, pos)) >= 0
        ]
        if not found:
            return self._until(buf, pos, len(buf) - 16)
        at, mark = min(found)
        if at > pos:  # the text before the mark; the mark's line is the next step
            return self._serial(buf[pos : at + 1]), at
        if mark == _INSERT:
            return self._rows(buf, at)
        if mark == _CREATE:
            return self._create(buf, at)
        eol = buf.find(b"\n", at + 1)
        if eol < 0:
            return None if len(buf) - at < _MAX_LINE else self._until(buf, pos, at + 1)
        line = buf[at + 1 : eol]
        if mark == _USE:
            name = line[len(_USE) - 1 :]
            if name.endswith(b"`;"):
                self.database = name[:-2].replace(b"``", b"`").decode("utf-8", "surrogateescape")
        elif mark == _DELIM:
            self._delimited = line[len(_DELIM) - 1 :].strip() != b";"
        elif mark == _HISTORY:
            if b"system_versioning_insert_history" in line:
                self.history = _HISTORY_ON in line
        else:
            return None, eol  # LOCK TABLES / UNLOCK TABLES: dropped
        return self._serial(buf[at + 1 : eol + 1]), eol

    def _create(self, buf: bytes, at: int) -> tuple[Piece | None, int] | None:
        close = self._find(buf, _CREATE_END, at)
        eol = buf.find(b"\n", close + 1) if close >= 0 else -1
        if eol < 0:
            if len(buf) - at < _MAX_CREATE:
                return None
            return self._serial(buf[at : at + 1]), at + 1
        stmt = buf[at + 1 : eol + 1]
        split = defer_keys(stmt) if b";\n" not in buf[at:close] else None
        if split is None:
            return self._serial(buf[at : at + 1]), at + 1
        name = stmt[len(_CREATE) - 1 : stmt.index(b"` (")]
        table = name.replace(b"``", b"`").decode("utf-8", "surrogateescape")
        piece = self._serial(split[0])
        return Piece(piece.data, None, ((self.database, table), split[1])), eol

    def _until(self, buf: bytes, pos: int, cut: int) -> tuple[Piece | None, int] | None:
        return (self._serial(buf[pos:cut]), cut) if cut > pos else None

    def _rows(self, buf: bytes, at: int) -> tuple[Piece | None, int] | None:
        head = insert_head(buf, at)
        if head is NEED_MORE:
            return None if len(buf) - at < _MAX_LINE else (self._serial(buf[at : at + 1]), at + 1)
        if head is None:
            return self._serial(buf[at : at + 1]), at + 1
        assert isinstance(head, InsertHead)
        end = head.rows_start
        while (i := buf.find(b";", end)) >= 0 and buf[i + 1 : i + 2] != b"\n":
            end = i + 1
        if i < 0 or i + 1 >= len(buf):
            return None
        return Piece(buf[at + 1 : i + 2], (self.database, head.table)), i + 1

    def _serial(self, data: bytes) -> Piece:
        if len(self._head) < _MAX_LINE:
            self._head += data[: _MAX_LINE - len(self._head)]
        return Piece(data)


class _Lane:
    """One client and the thread that writes to it, in order."""

    def __init__(self, sink: MysqlClientSink, index: int) -> None:
        self.sink, self.index = sink, index
        self.queued = 0
        self.database: str | None = None
        self.history = False
        self.primed = index == 0
        self.error: BaseException | None = None
        self._q: queue.Queue[bytes | threading.Event | None] = queue.Queue()
        self._room = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"dbseal-lane-{index}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._q.get()) is not None:
            try:
                if self.error is None:
                    if isinstance(item, threading.Event):
                        self.sink.sync()
                    else:
                        self.sink.write(item)
            except BaseException as exc:
                self.error = exc
            finally:
                if isinstance(item, threading.Event):
                    item.set()
                else:
                    with self._room:
                        self.queued -= len(item)
                        self._room.notify_all()

    def send(self, data: bytes) -> None:
        self.check()
        with self._room:
            self._room.wait_for(lambda: self.queued < _LANE_BYTES or self.error is not None)
            self.queued += len(data)
        self._q.put(data)

    def start_sync(self) -> threading.Event:
        done = threading.Event()
        self._q.put(done)
        return done

    def check(self) -> None:
        """Raise this lane's first error, if it had one."""
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        self._q.put(None)
        self._thread.join()
        self.check()


class ParallelClientSink:
    """Like :class:`MysqlClientSink` (write, close, abort), over ``jobs`` connections.

    A :class:`~dbseal.engines.mariadb.rename.RenameFilter` is applied before :meth:`write` (as
    ``ops.restore.apply_backup`` does).
    """

    def __init__(
        self,
        target: MySQLTarget,
        password: Secret | None,
        jobs: int = 2,
        *,
        defer_keys: bool = True,
    ) -> None:
        if jobs < 2:
            raise ValueError("a parallel restore needs at least 2 jobs")
        connect(target, password).close()  # login and TLS problems surface here, once
        self.target = target
        self._split = DumpSplitter(defer=defer_keys)
        self._alter: tuple[tuple[str, str], bytes] | None = None  # keys added after the rows
        self._turn = 0
        self._lanes: list[_Lane] = []
        started: list[MysqlClientSink] = []
        try:
            for i in range(jobs):
                started.append(MysqlClientSink(target, password, syncable=True, checked=True))
                self._lanes.append(_Lane(started[-1], i))
        except BaseException:  # a failure or an interrupt while lanes start: stop those started
            self.abort()
            for sink in started[len(self._lanes) :]:
                sink.abort()
            raise
        self._table: tuple[str, str] | None = None  # the table whose rows are arriving
        self._pending: Piece | None = None  # its first statement, until a second one
        self._spread: set[int] = set()  # lanes holding rows lane 0 has to wait for
        self._result: SinkResult | None = None

    @property
    def pids(self) -> list[int]:
        return [lane.sink.pid for lane in self._lanes]

    @property
    def lane_bytes(self) -> list[int]:
        """Bytes sent to each connection so far."""
        return [lane.sink.bytes_written for lane in self._lanes]

    def write(self, data: bytes) -> None:
        for piece in self._split.feed(data):
            self._route(piece)

    def _route(self, piece: Piece) -> None:
        if piece.rows is None or piece.rows != self._table:
            self._end_rows()
        if piece.deferred is not None:
            self._add_keys()  # a previous table without rows
            self._alter = piece.deferred
        if piece.rows is None:
            self._lanes[0].send(piece.data)
        elif self._table is None:  # a table's first statement: wait for a second one
            self._table, self._pending = piece.rows, piece
        else:
            if self._pending is not None:  # a second statement: the table goes parallel
                first, self._pending = self._pending, None
                self._lanes[0].start_sync().wait()  # its CREATE TABLE has run
                self._lanes[0].check()
                self._deal(first)
            self._deal(piece)

    def _end_rows(self) -> None:
        if self._pending is not None:  # a one-statement table stays on lane 0
            self._lanes[0].send(self._pending.data)
            self._pending = None
        self._barrier()
        if self._alter is not None and self._alter[0] == self._table:
            self._add_keys()
        self._table = None

    def _add_keys(self) -> None:
        """The deferred ALTER TABLE, after every row of its table.

        It goes to the least busy lane other than 0, so the index build overlaps the next
        table's load (lane 0 goes on with its CREATE TABLE); every lane has finished it
        before :meth:`close` returns.
        """
        if self._alter is None:
            return
        (db, _table), alter = self._alter
        self._alter = None
        lane = min(self._lanes[1:], key=lambda ln: ln.queued)
        self._prime(lane, db)
        lane.send(alter)

    def _deal(self, piece: Piece) -> None:
        # the least queued; among equals (idle lanes) the next in turn, so all lanes share
        self._turn = (self._turn + 1) % len(self._lanes)
        order = self._lanes[self._turn :] + self._lanes[: self._turn]
        lane = min(order, key=lambda ln: ln.queued)
        self._prime(lane, piece.rows[0] if piece.rows else "")
        if lane.index != 0 and lane.history != self._split.history:
            flag = b"1" if self._split.history else b"0"
            lane.send(
                b"/*M!101100 SET SESSION system_versioning_insert_history=" + flag + b" */;\n"
            )
            lane.history = self._split.history
        lane.send(piece.data)
        if lane.index != 0:
            self._spread.add(lane.index)

    def _prime(self, lane: _Lane, db: str) -> None:
        """The dump's session settings and ``USE`` on a lane other than 0, once."""
        if not lane.primed:
            lane.send(self._split.preamble)
            lane.primed = True
        if lane.index != 0 and lane.database != db:
            lane.send(f"USE `{db.replace('`', '``')}`;\n".encode())
            lane.database = db

    def _barrier(self) -> None:
        """Lane 0 waits for every row statement dealt to the other lanes."""
        waits = [self._lanes[i].start_sync() for i in sorted(self._spread)]
        for w in waits:
            w.wait()
        for i in self._spread:
            self._lanes[i].check()
        self._spread.clear()

    def close(self) -> SinkResult:
        """End of input: every lane finishes; the first failure (if any) is raised."""
        if self._result is not None:
            return self._result
        try:
            for piece in self._split.flush():
                self._route(piece)
            self._end_rows()
            self._add_keys()
            for lane in self._lanes:
                lane.finish()
            results = [lane.sink.close() for lane in self._lanes]
        except BaseException:
            self.abort()
            raise
        first = results[0]
        self._result = SinkResult(
            tool=first.tool,
            exit_code=max(r.exit_code for r in results),
            bytes_written=sum(r.bytes_written for r in results),
            stderr=b"".join(r.stderr for r in results),
            messages=first.messages,
            started=first.started,
            ended=max(r.ended for r in results),
        )
        return self._result

    def abort(self) -> None:
        """Stop every client now."""
        for lane in self._lanes:
            lane.sink.abort()
        for lane in self._lanes:
            lane._q.put(None)


def client_sink(
    target: MySQLTarget, password: Secret | None, jobs: int = DEFAULT_JOBS
) -> MysqlClientSink | ParallelClientSink:
    """One ``mariadb`` client fed the dump as it is (``jobs=1``), or a parallel restore.

    Either way the dump's ``LOCK TABLES`` lines are left out: a locked table whose column
    default is ``nextval()`` of a sequence cannot be loaded under them (ERROR 1100).
    """
    if not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"jobs must be between 1 and {MAX_JOBS}")
    if jobs == 1:
        return MysqlClientSink(target, password, byte_filter=RenameFilter(drop_locks=True))
    return ParallelClientSink(target, password, jobs=jobs)


__all__ = ["DEFAULT_JOBS", "DumpSplitter", "ParallelClientSink", "Piece", "client_sink"]
