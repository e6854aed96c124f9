"""Seal and unseal streams: the composition of codecs, recipients and the format."""

from __future__ import annotations

import datetime
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from dbseal import __version__
from dbseal.codecs import Codec, codec_by_id
from dbseal.crypto.recipients import Identity, Recipient
from dbseal.errors import CorruptedData, InputError, NoMatchingKey, OutputError, UsageError
from dbseal.format.header import (
    DATA_KEY_LEN,
    FILE_ID_LEN,
    SUITE_COBBLESTONE256,
    Header,
    derive_subkeys,
    payload_context,
    read_header,
)
from dbseal.format.payload import PayloadWriter, decrypt_payload

READ_SIZE = 1 << 20
_EOF = object()


@dataclass(frozen=True)
class SealResult:
    file_id: bytes
    plaintext_bytes: int
    stored_bytes: int
    sha256: bytes


def default_label(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    label: dict[str, Any] = {"created": now, "tool": f"dbseal {__version__}"}
    label.update(extra or {})
    return label


def _reader_thread(src: BinaryIO, q: queue.Queue[object], stop: threading.Event) -> None:
    """Read ahead so disk/pipe reads overlap compression and encryption."""
    try:
        while not stop.is_set():
            block = src.read(READ_SIZE)
            if not block:
                break
            q.put(block)
    except BaseException as exc:  # handed to the consumer, re-raised there
        q.put(exc)
        return
    q.put(_EOF)


def _blocks(src: BinaryIO) -> Iterator[bytes]:
    q: queue.Queue[object] = queue.Queue(maxsize=8)
    stop = threading.Event()
    t = threading.Thread(
        target=_reader_thread, args=(src, q, stop), daemon=True, name="dbseal-reader"
    )
    t.start()
    try:
        while True:
            item = q.get()
            if item is _EOF:
                return
            if isinstance(item, BaseException):
                if isinstance(item, OSError):
                    raise InputError(f"cannot read the input: {item.strerror or item}")
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)


def seal_stream(
    src: BinaryIO,
    out: BinaryIO,
    recipients: Sequence[Recipient],
    codec: Codec,
    label: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SealResult:
    """Compress, encrypt and frame everything read from ``src`` into ``out``."""
    if not recipients:
        raise UsageError(
            "no recipient given", hint="use -r, -R, --keyring/--key or a passphrase option"
        )
    data_key, file_id = os.urandom(DATA_KEY_LEN), os.urandom(FILE_ID_LEN)
    stanzas = [s for r in recipients for s in r.wrap(data_key, file_id)]
    keys = derive_subkeys(data_key, file_id)
    header = Header(
        SUITE_COBBLESTONE256, codec.codec_id, codec.level, file_id, default_label(label), stanzas
    )
    raw_header = header.encode(keys.header_mac)
    comp = codec.compressor()
    total = 0
    try:
        writer = PayloadWriter(
            out, raw_header, keys.payload, payload_context(header.suite, codec.codec_id, file_id)
        )
        for block in _blocks(src):
            total += len(block)
            writer.write(comp.compress(block))
            if progress:
                progress(total)
        writer.write(comp.flush())
        digest = writer.finish()
    except OSError as exc:
        raise OutputError(f"cannot write the sealed output: {exc.strerror or exc}") from None
    return SealResult(file_id, total, writer.stored_bytes, digest)


def unwrap_data_key(header: Header, identities: Sequence[Identity]) -> bytes:
    """The data key from the first identity that opens a stanza; the header MAC is then checked."""
    for ident in identities:
        key = ident.unwrap(header.stanzas, header.file_id)
        if key is not None:
            header.verify_mac(derive_subkeys(key, header.file_id).header_mac)
            return key
    types = sorted({s.type for s in header.stanzas})
    raise NoMatchingKey(
        "none of the given identities, keyring keys or passphrases opens this file "
        f"(it is sealed for: {', '.join(types) or 'nobody'})"
    )


def open_sealed(src: BinaryIO, identities: Sequence[Identity]) -> tuple[Header, Iterator[bytes]]:
    """Read the header, unwrap the key; returns the header and the plaintext pieces.

    The iterator raises the format's errors; it yields its final piece only
    after everything (every chunk, the final chunk, the trailer) has checked out.
    """
    header = read_header(src)
    codec = codec_by_id(header.codec)
    if not identities:
        raise NoMatchingKey("no identity, keyring or passphrase was given")
    data_key = unwrap_data_key(header, identities)
    keys = derive_subkeys(data_key, header.file_id)
    compressed = decrypt_payload(
        src, header.raw, keys.payload, payload_context(header.suite, header.codec, header.file_id)
    )

    def plain() -> Iterator[bytes]:
        try:
            yield from codec.decompress(compressed)
        except ValueError as exc:
            raise CorruptedData(f"the authenticated payload does not decompress: {exc}") from None

    return header, plain()
