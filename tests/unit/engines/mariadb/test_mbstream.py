"""The mbstream follower: a whole stream is whole, a cut or damaged one never is."""

from __future__ import annotations

import struct
import zlib

import pytest

from dbseal.engines.mariadb.physical.facts import (
    binlog_position,
    check_lsns,
    encryption_settings,
    galera_position,
    table_changes,
)
from dbseal.engines.mariadb.physical.mbstream import MbstreamScanner, parse_kv
from dbseal.engines.mariadb.physical.run import FATAL, BackupMessages

CHECKPOINTS = b"backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 1566307\nlast_lsn = 1566403\n"
CNF = b"[mysqld]\ninnodb_page_size=16384\nplugin_load_add=file_key_management\n"


def chunk(path: str, payload: bytes, offset: int = 0) -> bytes:
    p = path.encode()
    head = b"XBSTCK01" + b"\0P" + struct.pack("<I", len(p)) + p
    return head + struct.pack("<QQI", len(payload), offset, zlib.crc32(payload)) + payload


def end(path: str) -> bytes:
    p = path.encode()
    return b"XBSTCK01" + b"\0E" + struct.pack("<I", len(p)) + p


def stream(big: int = 300_000) -> bytes:
    data = bytes(range(256)) * (big // 256)
    return b"".join(
        [
            chunk("ibdata1", data[: big // 2]),
            chunk("ibdata1", data[big // 2 :], big // 2),
            end("ibdata1"),
            chunk("xtrabackup_checkpoints", CHECKPOINTS),
            end("xtrabackup_checkpoints"),
            chunk("backup-my.cnf", CNF),
            end("backup-my.cnf"),
            chunk("xtrabackup_info", b"tool_version = 10.11.19-MariaDB\n"),
            end("xtrabackup_info"),
        ]
    )


@pytest.mark.parametrize("step", [1, 13, 4096, 1 << 20])
def test_a_whole_stream_in_any_pieces(step: int) -> None:
    data, scan = stream(), MbstreamScanner()
    for i in range(0, len(data), step):
        scan.feed(data[i : i + step])
    assert scan.problems() == []
    assert parse_kv(scan.file("xtrabackup_checkpoints"))["to_lsn"] == "1566307"
    assert scan.file("ibdata1") is None  # data files are not kept


def test_every_cut_is_noticed() -> None:
    data = stream(3000)
    for cut in range(0, len(data), 7):
        scan = MbstreamScanner()
        scan.feed(data[:cut])
        assert scan.problems(), f"a stream cut at {cut} of {len(data)} looked whole"


def test_damage_is_noticed() -> None:
    data = bytearray(stream(3000))
    at = data.index(b"to_lsn = ")
    data[at + 9] ^= 1  # one bit of the checkpoints file
    scan = MbstreamScanner()
    scan.feed(bytes(data))
    assert any("CRC-32" in p for p in scan.problems())
    scan = MbstreamScanner()
    scan.feed(b"NOTMAGIC" + bytes(stream())[8:])
    assert "malformed" in scan.problems()[0]


def test_a_file_without_its_end_chunk() -> None:
    data = stream().replace(end("ibdata1"), b"")
    scan = MbstreamScanner()
    scan.feed(data)
    assert any("before the end of 1 file(s): ibdata1" in p for p in scan.problems())


def test_manifest_facts() -> None:
    assert binlog_position(b"binlog.000002\t1234\t0-1-17\n") == {
        "file": "binlog.000002",
        "position": 1234,
        "gtid": "0-1-17",
    }
    assert binlog_position(b"mysql-bin.000001\t328\n") == {
        "file": "mysql-bin.000001",
        "position": 328,
        "gtid": None,
    }
    assert galera_position(b"6f1c..:42\n") == {"uuid": "6f1c..", "seqno": 42, "raw": "6f1c..:42"}
    assert encryption_settings(parse_kv(CNF)) == {"plugin_load_add": "file_key_management"}
    assert check_lsns({"from_lsn": 5, "to_lsn": 9}, 5) == []
    assert "not at its parent's end 4" in check_lsns({"from_lsn": 5, "to_lsn": 9}, 4)[0]
    assert check_lsns({"from_lsn": 0, "to_lsn": 9}, None) == []
    t = {"database": "a", "table": "t", "engine": "InnoDB"}
    assert table_changes([t], [t]) == []
    assert "created: a.u" in table_changes([t], [t, {**t, "table": "u"}])[0]


@pytest.mark.parametrize(
    "line",
    [
        b"[00] 2026-01-01 10:00:00 xtrabackup: error: log block numbers mismatch:",
        b"xtrabackup: error: it looks like InnoDB log has wrapped around before xtrabackup",
        b"[00] 2026-01-01 10:00:00 Unable to obtain lock. Please try again later.",
        b"2026-01-01 0 [ERROR] InnoDB: Operating system error number 2",
    ],
)
def test_fatal_messages(line: bytes) -> None:
    assert FATAL.search(line) and BackupMessages()(line) == "error"


def test_ordinary_messages_are_not_errors() -> None:
    msgs = BackupMessages()
    for line in (
        b"[00] 2026-12-07 22:55:24 Streaming ./shop/error_log.ibd",
        b"[00] 2026-12-07 22:55:25 Redo log (from LSN 1566307 to 1566403) was copied.",
        b"[00] 2026-12-07 22:55:25 completed OK!",
    ):
        assert msgs(line) is None, line
    assert msgs.last.endswith(b"completed OK!")
