"""The binlog v4 event reader: positions, GTIDs, transaction boundaries, cut points."""

from __future__ import annotations

import struct

from dbseal.engines.mariadb import binlog_events as be


def _event(ts: int, etype: int, pos: int, body: bytes, server: int = 7, crc: bool = True) -> bytes:
    """One event starting at ``pos`` (``pos`` 0: artificial, log_pos 0)."""
    body = body + (b"\0\0\0\0" if crc else b"")
    size = be.HEADER_LEN + len(body)
    log_pos = pos + size if pos else 0
    return struct.pack("<IBIIIH", ts, etype, server, size, log_pos, 0) + body


def _gtid(seq: int, standalone: bool = False) -> bytes:
    return struct.pack("<QIB", seq, 0, 1 if standalone else 0) + b"\0" * 6


def _query(text: bytes, db: bytes = b"shop") -> bytes:
    return struct.pack("<IIBHH", 1, 0, len(db), 0, 0) + db + b"\0" + text


def _file() -> tuple[bytes, list[int]]:
    out, starts = bytearray(be.MAGIC), []
    parts = [
        (100, be.FORMAT_DESCRIPTION, b"\x04\x00" + b"\0" * 80),
        (101, be.GTID, _gtid(1, standalone=True)),
        (101, be.QUERY, _query(b"CREATE TABLE t (a INT)")),
        (102, be.GTID, _gtid(2)),
        (102, be.QUERY, _query(b"BEGIN")),
        (102, 30, b"rows"),  # WRITE_ROWS
        (103, be.XID, struct.pack("<Q", 9)),
    ]
    for ts, etype, body in parts:
        starts.append(len(out))
        out += _event(ts, etype, len(out), body)
    return bytes(out), starts


def test_positions_gtids_and_transactions() -> None:
    data, starts = _file()
    events = list(be.parse(data))
    assert [e.start for e in events] == starts
    assert events[-1].end == len(data)
    txs = list(be.transactions(iter(events)))
    assert [(t.gtid, t.start, t.timestamp) for t in txs] == [
        ("0-7-1", starts[1], 101),
        ("0-7-2", starts[3], 102),
    ]
    assert txs[0].end == starts[3] and txs[1].end == len(data)
    assert be.query_parts(events[2]) == (b"shop", b"CREATE TABLE t (a INT)")


def test_an_incomplete_last_event_is_not_cut_into_a_segment() -> None:
    data, starts = _file()
    cut = data[:-3]
    assert be.complete_prefix(cut) == starts[-1]
    assert [e.start for e in be.parse(cut)] == starts[:-1]
    txs = list(be.transactions(be.parse(cut)))
    assert [t.gtid for t in txs] == ["0-7-1"]  # the unfinished transaction is left out


def test_artificial_events_are_skipped_unless_asked() -> None:
    data, _ = _file()
    fake = _event(0, be.ROTATE, 0, struct.pack("<Q", 4) + b"mysql-bin.000001")
    resumed = be.MAGIC + fake + data[4:]
    assert all(not e.artificial for e in be.parse(resumed))
    assert next(e.artificial for e in be.parse(resumed, artificial=True)) is True


def test_scanning_a_file_in_small_chunks_finds_the_same_events() -> None:
    import io

    data, starts = _file()
    for chunk in (1, 7, 19, 1 << 20):
        found = list(be.scan(io.BytesIO(data), chunk=chunk))
        assert [(e.start, e.at, e.gtid()) for e in found] == [
            (e.start, e.at, e.gtid()) for e in be.parse(data)
        ]
        assert [e.start for e in be.scan(io.BytesIO(data[:-3]), chunk=chunk)] == starts[:-1]
    resumed = list(be.scan(io.BytesIO(data), offset=starts[3]))
    assert [e.start for e in resumed] == starts[3:]
