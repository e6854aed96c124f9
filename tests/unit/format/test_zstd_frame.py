"""The zstd frame walker finds the end of every frame shape a zstd writer can produce."""

from __future__ import annotations

import pytest
import zstandard

from dbseal.codecs.zstd import ZstdCodec
from dbseal.codecs.zstd_frame import FrameError, FrameWalker
from unit.sealkit import random_bytes, sql_text

DATA = {
    "empty": b"",
    "rle": b"a" * 300_000,
    "text": sql_text(200_000, seed=2),
    "random": random_bytes(150_000, seed=5),
}


@pytest.mark.parametrize("kind", list(DATA))
@pytest.mark.parametrize(
    "opts",
    [{}, {"write_checksum": True}, {"write_content_size": False}, {"level": 19}],
    ids=["default", "checksum", "no-size", "level19"],
)
def test_walker_stops_exactly_at_the_end_of_one_frame(kind: str, opts: dict[str, object]) -> None:
    frame = zstandard.ZstdCompressor(**opts).compress(DATA[kind])  # type: ignore[arg-type]
    for step in (1, 7, 4096, len(frame) + 10):
        walker, used = FrameWalker(), 0
        stream = frame + b"NEXT"
        for at in range(0, len(stream), step):
            used += walker.feed(stream[at : at + step])
        assert walker.done and used == len(frame), (kind, step)


def test_streaming_multithreaded_writer_frame_is_one_frame() -> None:
    comp = ZstdCodec(3, 2).compressor()
    frame = comp.compress(DATA["text"] * 10) + comp.flush()
    walker = FrameWalker()
    assert walker.feed(frame) == len(frame) and walker.done
    assert b"".join(ZstdCodec().decompress([frame])) == DATA["text"] * 10


@pytest.mark.parametrize(
    "stream",
    [b"\x50\x2a\x4d\x18\x00\x00\x00\x00", b"not zstd", b"\x28\xb5\x2f\xfd\x08"],
    ids=["skippable-frame", "garbage", "reserved-bit"],
)
def test_streams_a_dbseal_writer_never_makes_are_refused(stream: bytes) -> None:
    with pytest.raises(FrameError):
        FrameWalker().feed(stream)
