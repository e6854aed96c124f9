"""Follow mariadb-backup's ``--stream=mbstream`` output as it passes, without storing it.

The format (MariaDB ``extra/mariabackup/xbstream*``): a sequence of chunks, each

========  =====  ==================================================================
magic     8      ``XBSTCK01``
flags     1      bit 0: ignorable
type      1      ``P`` payload, ``E`` end of a file
path_len  4      little-endian; then ``path`` (the file's name in the backup)
length    8      ``P`` only: payload length, then its offset in the file (8) and
offset    8      the CRC-32 of the payload (4); then the payload
crc32     4
========  =====  ==================================================================

:class:`MbstreamScanner` checks that the stream is whole (it ends on a chunk boundary,
every file that got data got its end chunk, the files mariadb-backup writes last are
there) and keeps the small metadata files it is asked for (checkpoints, binlog position,
``backup-my.cnf``), checking their CRC. Payloads pass as memoryview slices: no copy.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

MAGIC = b"XBSTCK01"
_HEAD = 14  # magic, flags, type, path length
_PAYLOAD_HEAD = 20  # length, offset, crc32
MAX_PATH = 1 << 16
CAPTURE_LIMIT = 1 << 20  # a metadata file larger than this is not kept

CHECKPOINTS = ("mariadb_backup_checkpoints", "xtrabackup_checkpoints")
BINLOG_INFO = ("mariadb_backup_binlog_info", "xtrabackup_binlog_info")
GALERA_INFO = ("mariadb_backup_galera_info", "xtrabackup_galera_info")
BACKUP_INFO = ("mariadb_backup_info", "xtrabackup_info")
BACKUP_CNF = "backup-my.cnf"
METADATA = (*CHECKPOINTS, *BINLOG_INFO, *GALERA_INFO, *BACKUP_INFO, BACKUP_CNF)


class MbstreamScanner:
    """``feed`` every byte of the stream, then ``problems()`` says whether it is whole."""

    def __init__(self, capture: Iterable[str] = METADATA) -> None:
        self._capture = frozenset(capture)
        self._head = bytearray()
        self._need = _HEAD
        self._skip = 0
        self._path = ""
        self._type = b""
        self._crc = 0
        self._keeping: bytearray | None = None
        self._kept: dict[str, bytearray] = {}
        self._bad_crc: list[str] = []
        self._open: set[str] = set()
        self._ended: set[str] = set()
        self.error: str | None = None
        self.chunks = 0
        self.bytes = 0

    # -- the stream ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.error is not None:
            return
        mv = memoryview(data)
        i, n = 0, len(mv)
        self.bytes += n
        while i < n and self.error is None:
            if self._skip:
                take = min(self._skip, n - i)
                if self._keeping is not None:
                    self._keeping += mv[i : i + take]
                self._skip -= take
                i += take
                if not self._skip:
                    self._payload_done()
                continue
            take = min(self._need - len(self._head), n - i)
            self._head += mv[i : i + take]
            i += take
            if len(self._head) == self._need:
                self._header()

    def _header(self) -> None:
        head = self._head
        if len(head) == _HEAD:
            if head[:8] != MAGIC:
                self.error = f"chunk {self.chunks + 1} does not start with {MAGIC.decode()}"
                return
            self._type = bytes(head[9:10])
            (path_len,) = struct.unpack_from("<I", head, 10)
            if self._type not in (b"P", b"E") or path_len > MAX_PATH:
                self.error = f"chunk {self.chunks + 1} has an unknown type or length"
                return
            self._need = _HEAD + path_len + (_PAYLOAD_HEAD if self._type == b"P" else 0)
            if len(head) < self._need:
                return
        path_len = self._need - _HEAD - (_PAYLOAD_HEAD if self._type == b"P" else 0)
        self._path = bytes(head[_HEAD : _HEAD + path_len]).decode("utf-8", "replace")
        self.chunks += 1
        if self._type == b"E":
            self._open.discard(self._path)
            self._ended.add(self._path)
            self._reset()
            return
        length, _offset, self._crc = struct.unpack_from("<QQI", head, _HEAD + path_len)
        self._open.add(self._path)
        self._keeping = None
        if self._path in self._capture:
            kept = self._kept.setdefault(self._path, bytearray())
            if len(kept) + length <= CAPTURE_LIMIT:
                self._keeping = bytearray()
        self._skip = length
        if not length:
            self._payload_done()

    def _payload_done(self) -> None:
        if self._keeping is not None:
            if zlib.crc32(self._keeping) != self._crc:
                self._bad_crc.append(self._path)
            self._kept[self._path] += self._keeping
            self._keeping = None
        self._reset()

    def _reset(self) -> None:
        self._head = bytearray()
        self._need = _HEAD

    # -- the verdict -----------------------------------------------------------------

    def file(self, *names: str) -> bytes | None:
        """The kept content of the first of ``names`` the stream holds whole."""
        for name in names:
            if name in self._kept and name in self._ended:
                return bytes(self._kept[name])
        return None

    def problems(self) -> list[str]:
        """Why the stream is not a whole backup (empty: it is)."""
        if self.error is not None:
            return [f"the mbstream is malformed: {self.error}"]
        out = []
        if self._skip or self._head:
            out.append(
                f"the mbstream ends inside a chunk of {self._path or 'a file'} (it was cut off)"
            )
        if self._open:
            some = ", ".join(sorted(self._open)[:3])
            out.append(f"the mbstream ends before the end of {len(self._open)} file(s): {some}")
        if self.file(*CHECKPOINTS) is None:
            out.append("the mbstream has no checkpoints file (xtrabackup_checkpoints)")
        if self.file(BACKUP_CNF) is None:
            out.append("the mbstream has no backup-my.cnf")
        if self.file(*BACKUP_INFO) is None:  # mariadb-backup streams it last
            out.append("the mbstream has no xtrabackup_info (its last file)")
        if self._bad_crc:
            out.append(f"the mbstream's CRC-32 does not match for {', '.join(self._bad_crc)}")
        return out


def parse_kv(text: bytes | None) -> dict[str, str]:
    """``key = value`` lines (checkpoints, xtrabackup_info) and ``key=value`` (my.cnf)."""
    out: dict[str, str] = {}
    for raw in (text or b"").decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        out[key.strip()] = value.strip() if sep else ""
    return out


__all__ = ["BACKUP_CNF", "CHECKPOINTS", "METADATA", "MbstreamScanner", "parse_kv"]
