"""The tar follower of base backups: whole streams in any pieces, and every cut noticed."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from dbseal.engines.postgresql.container import TarScanner


def _tar(members: dict[str, bytes], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


MEMBERS = {
    "backup_label": b"START WAL LOCATION: 0/2000028\nLABEL: dbseal\n",
    "base/1/" + "x" * 150: os.urandom(5000),  # a GNU long name
    "empty": b"",
    "backup_manifest": b'{"Files": [1, 2, 3]}',
}


@pytest.mark.parametrize("piece", [1, 7, 512, 513, 4096, 1 << 20])
def test_a_whole_stream_in_any_pieces(piece: int) -> None:
    data = _tar(MEMBERS)
    scan = TarScanner(frozenset({"backup_label", "backup_manifest"}))
    for i in range(0, len(data), piece):
        scan.feed(data[i : i + piece])
    assert scan.ended and scan.error is None and scan.members == 4
    assert scan.captured == {k: MEMBERS[k] for k in ("backup_label", "backup_manifest")}


def test_every_cut_is_noticed() -> None:
    data = _tar(MEMBERS)
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        last = t.getmembers()[-1]
    end_block = last.offset_data + last.size + (-last.size % 512)  # where the end marker starts
    for cut in range(0, end_block + 512):
        scan = TarScanner()
        scan.feed(data[:cut])
        assert not scan.ended, cut
    scan = TarScanner()
    scan.feed(data[: end_block + 512])
    assert scan.ended and scan.members == 4


def test_a_damaged_header_is_an_error() -> None:
    data = bytearray(_tar(MEMBERS))
    data[100] ^= 0xFF  # inside the first header: its checksum no longer matches
    scan = TarScanner()
    scan.feed(bytes(data))
    assert scan.error is not None and not scan.ended
