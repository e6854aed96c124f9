"""A multi-GB stream round-trips with bounded memory and nothing on disk."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from dbseal.codecs import parse_codec
from dbseal.crypto.x25519 import X25519Identity
from dbseal.ops.seal import open_sealed, seal_stream

SIZE = 2 << 30  # 2 GiB


class _Generated:
    """A deterministic, compressible byte stream of ``size`` bytes, hashed as it is read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.hash = hashlib.sha256()
        rows = b"".join(
            b"(%d,'customer %d','2026-11-%02d',%d.%02d)," % (i, i * 7, i % 28 + 1, i, i % 100)
            for i in range(20000)
        )
        self._block = rows[: 1 << 20]
        self._n = 0

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        self._n += 1
        block = self._n.to_bytes(8, "big") + self._block[8:]
        block = block[: min(len(block), self.left)]
        self.left -= len(block)
        self.hash.update(block)
        return block


@pytest.mark.slow
def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def test_two_gib_round_trip_through_a_pipe() -> None:
    # the process's peak RSS is reset first, so what ran before in this pytest process
    # (the rest of the suite) does not count; only what the round trip adds
    Path("/proc/self/clear_refs").write_text("5")
    before_mib = _status_mib("VmRSS")
    ident = X25519Identity.generate()
    src = _Generated(SIZE)
    r_fd, w_fd = os.pipe()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(w_fd, "wb") as out:
                seal_stream(src, out, [ident.recipient()], parse_codec("zstd:1"))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=produce)
    t.start()
    out_hash, total = hashlib.sha256(), 0
    with os.fdopen(r_fd, "rb") as fh:
        _header, plain = open_sealed(fh, [ident])
        for piece in plain:
            out_hash.update(piece)
            total += len(piece)
    t.join()
    assert not errors
    assert total == SIZE
    assert out_hash.digest() == src.hash.digest()
    # the peak RSS the round trip adds stays far below the stream's size
    added_mib = _status_mib("VmHWM") - before_mib
    assert added_mib < 300, f"the round trip added {added_mib:.0f} MiB of peak RSS"


def test_generated_stream_is_what_it_claims() -> None:
    g = _Generated(3 << 20)
    data = b"".join(iter(lambda: g.read(), b""))
    assert len(data) == 3 << 20 and hashlib.sha256(data).digest() == g.hash.digest()
