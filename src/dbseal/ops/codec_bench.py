"""`dbseal bench`: seal a sample of the user's own data with each codec, in memory.

:func:`bench_codecs` seals ``sample`` (bytes held in memory: nothing is written to disk)
with every codec spec in ``specs`` through the real seal and unseal paths (a throwaway
X25519 key), checks that the unsealed bytes are the sample, and measures seal and unseal
throughput (plaintext MB per wall second, and CPU seconds of the whole process, codec
threads included) and the sealed size. :func:`recommend` picks the codec for a
repository's default: the smallest output among codecs that seal at least
``min_speed`` MB/s (a dump arrives at roughly that rate), else the fastest compressing one.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from dbseal.codecs import backup_threads, parse_codec
from dbseal.crypto.x25519 import X25519Identity, X25519Recipient
from dbseal.errors import IntegrityFailure
from dbseal.ops.seal import open_sealed, seal_stream

DEFAULT_SPECS = (
    "none",
    "lz4:0",
    "lz4:9",
    "gzip:1",
    "gzip:6",
    "zstd:1",
    "zstd:3",
    "zstd:6",
    "zstd:9",
    "zstd:12",
    "zstd:19",
)
DEFAULT_MIN_SPEED = 100.0  # MB/s of plaintext
MB = 1_000_000


@dataclass(frozen=True)
class CodecResult:
    codec: str
    sample_bytes: int
    sealed_bytes: int
    seal_s: float
    seal_cpu_s: float
    unseal_s: float
    unseal_cpu_s: float

    @property
    def ratio(self) -> float:
        return self.sealed_bytes / self.sample_bytes if self.sample_bytes else 1.0

    @property
    def seal_mb_s(self) -> float:
        return self.sample_bytes / MB / self.seal_s if self.seal_s > 0 else float("inf")

    @property
    def unseal_mb_s(self) -> float:
        return self.sample_bytes / MB / self.unseal_s if self.unseal_s > 0 else float("inf")

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(
            ratio=round(self.ratio, 4),
            seal_mb_s=round(self.seal_mb_s, 1),
            unseal_mb_s=round(self.unseal_mb_s, 1),
        )
        return doc


def _best_of(sample: bytes, spec: str, identity: X25519Identity, repeat: int) -> CodecResult:
    """The fastest of ``repeat`` runs (a shared machine slows some runs, never speeds one)."""
    runs = [_seal_one(sample, spec, identity) for _ in range(max(1, repeat))]
    fastest_seal = min(runs, key=lambda r: r.seal_s)
    fastest_unseal = min(runs, key=lambda r: r.unseal_s)
    return CodecResult(
        spec,
        fastest_seal.sample_bytes,
        fastest_seal.sealed_bytes,
        fastest_seal.seal_s,
        fastest_seal.seal_cpu_s,
        fastest_unseal.unseal_s,
        fastest_unseal.unseal_cpu_s,
    )


def _seal_one(sample: bytes, spec: str, identity: X25519Identity) -> CodecResult:
    codec = parse_codec(spec, threads=backup_threads())
    out = io.BytesIO()
    recipient = X25519Recipient(identity.public)
    c0, t0 = time.process_time(), time.perf_counter()
    seal_stream(io.BytesIO(sample), out, [recipient], codec, label={"bench": spec})
    seal_s, seal_cpu = time.perf_counter() - t0, time.process_time() - c0
    sealed = out.getbuffer().nbytes
    out.seek(0)
    digest, n = hashlib.sha256(), 0
    c0, t0 = time.process_time(), time.perf_counter()
    _, plaintext = open_sealed(out, [identity])
    for piece in plaintext:
        digest.update(piece)
        n += len(piece)
    unseal_s, unseal_cpu = time.perf_counter() - t0, time.process_time() - c0
    if n != len(sample) or digest.digest() != hashlib.sha256(sample).digest():
        raise IntegrityFailure(f"the sample sealed with {spec} did not unseal to itself")
    return CodecResult(spec, len(sample), sealed, seal_s, seal_cpu, unseal_s, unseal_cpu)


def bench_codecs(
    sample: bytes,
    specs: Sequence[str] = DEFAULT_SPECS,
    progress: Callable[[str], None] | None = None,
    repeat: int = 2,
) -> list[CodecResult]:
    """Seal and unseal ``sample`` with each codec spec; one result per spec, in order.

    Each spec runs ``repeat`` times; the fastest seal and the fastest unseal are kept.
    """
    for spec in specs:  # bad specs fail before any work
        parse_codec(spec)
    identity = X25519Identity.generate()
    results = []
    for spec in specs:
        if progress is not None:
            progress(spec)
        results.append(_best_of(sample, spec, identity, repeat))
    return results


def recommend(
    results: Sequence[CodecResult], min_speed: float = DEFAULT_MIN_SPEED
) -> tuple[str, str]:
    """``(codec spec, reason)``: the codec to use as a repository's default, and why."""
    compressing = [r for r in results if r.codec != "none"]
    if not compressing:
        return "none", "no compressing codec was measured"
    fast = [r for r in compressing if r.seal_mb_s >= min_speed]
    if fast:
        best = min(fast, key=lambda r: (r.sealed_bytes, -r.seal_mb_s))
        why = f"the smallest output ({best.ratio:.1%}) among codecs sealing >= {min_speed:g} MB/s"
    else:
        best = max(compressing, key=lambda r: r.seal_mb_s)
        why = f"no codec sealed {min_speed:g} MB/s here; this one is the fastest"
    plain = next((r for r in results if r.codec == "none"), None)
    if plain is not None and best.sealed_bytes >= 0.95 * plain.sealed_bytes:
        return "none", "this data does not compress (under 5% saved by the best codec)"
    return best.codec, why
