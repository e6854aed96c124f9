"""One conformance suite that every storage backend runs (remote backends join later)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbseal.errors import ObjectExists, ObjectNotFound, OutputError
from dbseal.storage import Handle, LocalBackend


@pytest.fixture(params=["local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalBackend]:
    b = LocalBackend(str(tmp_path / "repo"))
    b.create_layout()
    yield b


def test_put_get_stat_list_remove(backend: LocalBackend) -> None:
    h = Handle("manifest", "a.json")
    assert backend.stat(h) is None
    backend.put(h, b"hello")
    assert backend.get(h) == b"hello"
    info = backend.stat(h)
    assert info is not None and info.size == 5
    assert backend.list("manifest") == ["a.json"]
    backend.remove(h)
    assert backend.list("manifest") == []
    backend.remove(h)  # removing a missing object is not an error


def test_missing_object_raises_not_found(backend: LocalBackend) -> None:
    with pytest.raises(ObjectNotFound):
        backend.get(Handle("data", "nope.dbseal"))


def test_no_overwrite_unless_asked(backend: LocalBackend) -> None:
    h = Handle("manifest", "x.json")
    backend.put(h, b"first")
    with pytest.raises(ObjectExists):
        backend.put(h, b"second")
    assert backend.get(h) == b"first"
    backend.put(h, b"third", overwrite=True)
    assert backend.get(h) == b"third"


def test_failed_stream_leaves_nothing(backend: LocalBackend) -> None:
    h = Handle("data", "big.dbseal")
    with pytest.raises(RuntimeError), backend.writer(h) as fh:
        fh.write(b"x" * 100_000)
        raise RuntimeError("upload died")
    assert backend.stat(h) is None
    assert backend.list("data") == []
    assert backend.leftovers() == []


def test_stream_of_unknown_length_and_range_reads(backend: LocalBackend) -> None:
    h = Handle("data", "s.dbseal")
    payload = os.urandom(3 << 20)
    with backend.writer(h) as fh:
        for i in range(0, len(payload), 65536):
            fh.write(payload[i : i + 65536])
    with backend.open(h) as fh:
        assert fh.read() == payload
    with backend.open(h, start=1000, length=5000) as fh:
        assert fh.read() == payload[1000:6000]


def test_objects_are_private(backend: LocalBackend) -> None:
    backend.put(Handle("envelope", "e.env"), b"k")
    st = os.stat(os.path.join(backend.root, "envelopes", "e.env"))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(backend.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(backend.root, "envelopes")).st_mode) == 0o700


def test_concurrent_writers_of_distinct_objects_all_land(backend: LocalBackend) -> None:
    def work(i: int) -> None:
        with backend.writer(Handle("data", f"{i:03d}.dbseal")) as fh:
            fh.write(os.urandom(200_000))
        backend.put(Handle("manifest", f"{i:03d}.json"), str(i).encode())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.list("manifest") == [f"{i:03d}.json" for i in range(16)]
    assert [backend.get(Handle("manifest", f"{i:03d}.json")) for i in range(16)] == [
        str(i).encode() for i in range(16)
    ]


def test_unwritable_location_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    b = LocalBackend(str(tmp_path / "file" / "repo"))
    with pytest.raises(OutputError):
        b.put(Handle("manifest", "a.json"), b"x")


def test_invalid_names_are_refused() -> None:
    for bad in ("../x", "a\n", "", "/abs", "a/../../b"):
        with pytest.raises(ValueError):
            Handle("data", bad)
