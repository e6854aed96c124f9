"""A small reader of MariaDB binary-log (v4) events: the 19-byte common header and the few
bodies dbseal needs (GTID, GTID list). Pure: bytes in, facts out.

Common header (little endian): timestamp u32, type u8, server_id u32, event_size u32,
log_pos u32 (the position *after* this event in its file; 0 for artificial events the
server makes up while streaming), flags u16. A file starts with the 4-byte magic
``\\xfebin`` and a FORMAT_DESCRIPTION event.

A transaction starts with a GTID event (MariaDB: seq_no u64, domain_id u32, flags u8) and
ends with its XID event, or a QUERY ``COMMIT``; a GTID event with the standalone flag
(DDL) is one transaction with the next event. :func:`transactions` gives those boundaries,
which are the only places where a replay may start or stop.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAGIC = b"\xfebin"
HEADER_LEN = 19
_HEADER = struct.Struct("<IBIIIH")

QUERY = 2
STOP = 3
ROTATE = 4
FORMAT_DESCRIPTION = 15
XID = 16
GTID = 162
GTID_LIST = 163
_FL_STANDALONE = 1  # MariaDB GTID event flag: a single statement, no BEGIN ... COMMIT


@dataclass(frozen=True)
class Event:
    """One event: where it is in its file (``start``..``end``) and its header fields."""

    start: int
    end: int
    timestamp: int
    type: int
    server_id: int
    body: bytes  # without the common header (and with the checksum, if any)
    at: int = 0  # where the event starts in the parsed buffer
    size: int = 0
    artificial: bool = False  # made up by the server while streaming (log_pos 0)

    def gtid(self) -> str | None:
        """``domain-server-seq`` of a GTID event, else None."""
        if self.type != GTID or len(self.body) < 13:
            return None
        seq, domain = struct.unpack_from("<QI", self.body, 0)
        return f"{domain}-{self.server_id}-{seq}"

    def gtid_standalone(self) -> bool:
        return self.type == GTID and len(self.body) >= 13 and bool(self.body[12] & _FL_STANDALONE)

    def gtid_list(self) -> list[str]:
        """The GTID state a file starts with (GTID_LIST event), ``d-s-n`` each."""
        if self.type != GTID_LIST or len(self.body) < 4:
            return []
        (count,) = struct.unpack_from("<I", self.body, 0)
        count &= 0x0FFFFFFF
        out = []
        for i in range(count):
            off = 4 + 16 * i
            if off + 16 > len(self.body):
                break
            domain, server, seq = struct.unpack_from("<IIQ", self.body, off)
            out.append(f"{domain}-{server}-{seq}")
        return out

    def is_commit(self) -> bool:
        if self.type == XID:
            return True
        if self.type == QUERY:
            return _query_text(self.body).startswith(b"COMMIT")
        return False


def _query_text(body: bytes) -> bytes:
    """The statement of a QUERY event: after the post-header (13), status vars, db name, NUL."""
    if len(body) < 13:
        return b""
    db_len = body[8]
    status_len = struct.unpack_from("<H", body, 11)[0]
    start = 13 + status_len + db_len + 1
    return body[start:].rstrip(b"\0")[:64].strip().upper()


TX_WORDS = (b"BEGIN", b"COMMIT", b"ROLLBACK", b"XA", b"SAVEPOINT")
DDL_WORDS = (b"CREATE", b"ALTER", b"DROP", b"RENAME", b"TRUNCATE", b"GRANT", b"REVOKE")


def query_parts(ev: Event) -> tuple[bytes, bytes | None]:
    """(default database, statement) of a QUERY event; (b"", None) for other events."""
    if ev.type != QUERY or len(ev.body) < 13:
        return b"", None
    db_len = ev.body[8]
    status_len = struct.unpack_from("<H", ev.body, 11)[0]
    db_at = 13 + status_len
    db = ev.body[db_at : db_at + db_len]
    text = ev.body[db_at + db_len + 1 :]
    return db, text[:-4].strip() if len(text) >= 4 else text.strip()  # without the CRC32


def parse(data: bytes | memoryview, offset: int = 0, artificial: bool = False) -> Iterator[Event]:
    """The complete events in ``data`` from ``offset`` (an incomplete last event is left out).

    Positions come from each event's ``log_pos``, so ``data`` need not start at the file's
    beginning (a stream resumed at a position starts with the magic and the format
    description, then jumps). Artificial events (``log_pos`` 0) are skipped unless
    ``artificial`` (then their ``start`` and ``end`` are -1).
    """
    view = memoryview(data)
    pos = offset
    if pos == 0 and bytes(view[:4]) == MAGIC:
        pos = 4
    while pos + HEADER_LEN <= len(view):
        ts, etype, server_id, size, log_pos, _flags = _HEADER.unpack_from(view, pos)
        if size < HEADER_LEN:
            raise ValueError(f"binlog event at byte {pos} has an impossible size {size}")
        if pos + size > len(view):
            return
        body = bytes(view[pos + HEADER_LEN : pos + size])
        if log_pos != 0:
            yield Event(log_pos - size, log_pos, ts, etype, server_id, body, pos, size)
        elif artificial:
            yield Event(-1, -1, ts, etype, server_id, body, pos, size, True)
        pos += size


_KEEP_BODY = (FORMAT_DESCRIPTION, GTID, GTID_LIST, QUERY, XID, ROTATE, STOP)
CHUNK = 8 << 20


def scan(
    fh: BinaryIO, offset: int = 0, artificial: bool = False, chunk: int = CHUNK
) -> Iterator[Event]:
    """Like :func:`parse`, reading a file in chunks from byte ``offset`` (0 or an event
    boundary); ``Event.at`` is the offset in the file. Row-event bodies are not kept (b"")."""
    fh.seek(offset)
    pos = offset
    if offset == 0:
        if fh.read(4) == MAGIC:
            pos = 4
        else:
            fh.seek(0)
    buf, buf_at = b"", pos
    while True:
        rel = pos - buf_at
        if len(buf) - rel < HEADER_LEN:
            buf, buf_at, rel = _fill(fh, buf[rel:], HEADER_LEN, chunk), pos, 0
            if len(buf) < HEADER_LEN:
                return
        ts, etype, server_id, size, log_pos, _flags = _HEADER.unpack_from(buf, rel)
        if size < HEADER_LEN:
            raise ValueError(f"binlog event at byte {pos} has an impossible size {size}")
        if rel + size > len(buf):
            buf, buf_at, rel = _fill(fh, buf[rel:], size, chunk), pos, 0
            if size > len(buf):
                return  # an incomplete last event
        body = bytes(buf[rel + HEADER_LEN : rel + size]) if etype in _KEEP_BODY else b""
        if log_pos != 0:
            yield Event(log_pos - size, log_pos, ts, etype, server_id, body, pos, size)
        elif artificial:
            yield Event(-1, -1, ts, etype, server_id, body, pos, size, True)
        pos += size


def _fill(fh: BinaryIO, buf: bytes, need: int, chunk: int) -> bytes:
    """``buf`` with more of the file, until it holds ``need`` bytes or the file ends."""
    parts = [buf]
    have = len(buf)
    while have < need:
        block = fh.read(max(chunk, need - have))
        if not block:
            break
        parts.append(block)
        have += len(block)
    return b"".join(parts)


def complete_prefix(data: bytes | memoryview, offset: int = 0) -> int:
    """How many bytes of ``data`` (from ``offset``) hold whole events: where to cut a segment."""
    view = memoryview(data)
    pos = offset
    if pos == 0 and bytes(view[:4]) == MAGIC:
        pos = 4
    while pos + HEADER_LEN <= len(view):
        size = _HEADER.unpack_from(view, pos)[3]
        if size < HEADER_LEN or pos + size > len(view):
            break
        pos += size
    return pos


@dataclass(frozen=True)
class Transaction:
    """A replayable unit: from its GTID event's start to its commit's end."""

    gtid: str
    start: int
    end: int
    timestamp: int  # the GTID event's (second resolution)


def transactions(events: Iterator[Event]) -> Iterator[Transaction]:
    """The transactions of a stream of events (an unfinished last one is left out)."""
    current: Event | None = None
    standalone_pending = False
    for ev in events:
        if ev.type == GTID:
            current, standalone_pending = ev, ev.gtid_standalone()
            continue
        if current is None:
            continue
        gtid = current.gtid()
        assert gtid is not None
        if standalone_pending or ev.is_commit():
            yield Transaction(gtid, current.start, ev.end, current.timestamp)
            current, standalone_pending = None, False
