"""Any single damaged byte, or any truncation, is refused through the CLI with the right exit code,
and `unseal -o OUT` leaves nothing behind: neither OUT nor a temporary file.

The CLI is called in-process (dbseal.cli.main.main) for speed, in one long-lived worker process
so that main()'s process hardening does not change pytest itself; it is the same code path as
the console script. Regions are computed from the parsed header (Header.raw) and the 48-byte trailer.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dbseal.crypto.x25519 import X25519Identity
from unit.sealkit import random_bytes, run_cli, seal_bytes, split

TRAILER = 48
REGIONS = ["magic", "version", "preamble", "header", "payload", "trailer"]
FLIP_EXIT = {"magic": 3, "version": 4, "preamble": 6, "header": 6, "payload": 6, "trailer": 6}


@dataclass(frozen=True)
class Workspace:
    identity: X25519Identity
    identity_file: Path
    input: Path
    out_dir: Path
    worker: ProcessPoolExecutor

    def unseal(self, out: Path) -> tuple[int, str, str]:
        argv = ["unseal", "-i", str(self.identity_file), "-o", str(out), str(self.input)]
        return self.worker.submit(run_cli, argv).result(timeout=60)


@pytest.fixture(scope="module")
def worker() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, worker: ProcessPoolExecutor) -> Workspace:
    root = tmp_path_factory.mktemp("property")
    ident = X25519Identity.generate()
    idf = root / "id.txt"
    idf.write_text(ident.identity_file_text())
    idf.chmod(0o600)
    out_dir = root / "out"
    out_dir.mkdir()
    return Workspace(ident, idf, root / "in.dbseal", out_dir, worker)


def _bounds(sealed: bytes) -> dict[str, tuple[int, int]]:
    hlen, n = len(split(sealed).header.raw), len(sealed)
    return {
        "magic": (0, 7),
        "version": (7, 8),
        "preamble": (8, 16),
        "header": (16, hlen),
        "payload": (hlen, n - TRAILER),
        "trailer": (n - TRAILER, n),
    }


def _unseal(ws: Workspace, data: bytes) -> tuple[int, str]:
    ws.input.write_bytes(data)
    rc, stdout, stderr = ws.unseal(ws.out_dir / "plain.sql")
    assert stdout == ""
    leftovers = sorted(p.name for p in ws.out_dir.iterdir())
    assert leftovers == [], f"unseal left {leftovers} behind"
    return rc, stderr


def _assert_one_error_line(stderr: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbseal: error:"), stderr


plaintexts = st.builds(
    random_bytes,
    st.one_of(st.integers(0, 64), st.integers(0, 3 * 16384 + 100)),
    st.integers(0, 2**32 - 1),
)
codecs = st.sampled_from(["zstd", "lz4", "gzip", "none"])
BASE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_control_the_undamaged_file_opens(ws: Workspace) -> None:
    """Without this, the properties below would pass for a CLI that refuses everything."""
    data = b"INSERT INTO t VALUES (1);\n" * 100
    ws.input.write_bytes(seal_bytes(data, [ws.identity.recipient()]))
    out = ws.out_dir / "control.sql"
    assert ws.unseal(out)[0] == 0
    assert out.read_bytes() == data
    out.unlink()


@settings(BASE, max_examples=300)
@given(
    plaintext=plaintexts,
    codec=codecs,
    region=st.sampled_from(REGIONS),
    where=st.floats(0, 1, exclude_max=True),
    mask=st.integers(1, 255),
)
def test_any_flipped_byte_is_refused_with_the_exit_code_of_its_region(
    ws: Workspace, plaintext: bytes, codec: str, region: str, where: float, mask: int
) -> None:
    sealed = seal_bytes(plaintext, [ws.identity.recipient()], codec)
    lo, hi = _bounds(sealed)[region]
    pos = lo + int(where * (hi - lo))
    damaged = bytearray(sealed)
    damaged[pos] ^= mask
    event(f"flip in {region}")

    rc, stderr = _unseal(ws, bytes(damaged))

    assert rc == FLIP_EXIT[region], f"flip {mask:#04x} at {pos} ({region}): {stderr}"
    _assert_one_error_line(stderr)


@settings(BASE, max_examples=200)
@given(
    plaintext=plaintexts,
    codec=codecs,
    region=st.sampled_from(REGIONS),
    where=st.floats(0, 1, exclude_max=True),
)
def test_any_truncation_is_refused_as_truncated_or_a_cut_trailer(
    ws: Workspace, plaintext: bytes, codec: str, region: str, where: float
) -> None:
    sealed = seal_bytes(plaintext, [ws.identity.recipient()], codec)
    lo, hi = _bounds(sealed)[region]
    length = lo + int(where * (hi - lo))
    event(f"cut in {region}" + (" at 0" if length == 0 else ""))

    rc, stderr = _unseal(ws, sealed[:length])

    # A cut at or inside the trailer leaves an authentic, complete payload: the reader with
    # the key reports a damaged trailer (6, docs/format.md 4.3); any earlier cut is truncated.
    want = 3 if length == 0 else 6 if region == "trailer" else 7
    assert rc == want, f"cut at {length} ({region}): {stderr}"
    _assert_one_error_line(stderr)


@pytest.mark.parametrize("length", range(8))
def test_truncation_inside_the_magic(ws: Workspace, length: int) -> None:
    """Empty input is 'not a dbseal file' (3); a partial magic is 'truncated' (7)."""
    sealed = seal_bytes(b"x", [ws.identity.recipient()])
    rc, stderr = _unseal(ws, sealed[:length])
    assert rc == (3 if length == 0 else 7)
    _assert_one_error_line(stderr)


@pytest.mark.parametrize("extra", [b"\x00", b"garbage after the end", bytes(48), bytes(100)])
def test_bytes_appended_after_the_trailer_are_refused(ws: Workspace, extra: bytes) -> None:
    sealed = seal_bytes(b"complete dump\n" * 10, [ws.identity.recipient()])
    rc, stderr = _unseal(ws, sealed + extra)
    assert rc == 6
    assert "appended after its trailer" in stderr
    _assert_one_error_line(stderr)
