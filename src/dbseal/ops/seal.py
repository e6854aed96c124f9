"""Seal and unseal streams: the composition of codecs, recipients and the format."""

from __future__ import annotations

import datetime
import json
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from dbseal import __version__
from dbseal.codecs import Codec, codec_by_id
from dbseal.crypto.recipients import Identity, Recipient
from dbseal.crypto.secret import Secret
from dbseal.errors import (
    DbsealError,
    InputError,
    NoMatchingKey,
    OutputError,
    PayloadCorrupted,
    UsageError,
)
from dbseal.format.envelope import for_header, parse_envelope
from dbseal.format.header import (
    DATA_KEY_LEN,
    FILE_ID_LEN,
    FLAG_DETACHED,
    MAX_LABEL_LEN,
    SUITE_COBBLESTONE256,
    Header,
    derive_subkeys,
    payload_context,
    read_header,
)
from dbseal.format.payload import PayloadWriter, Writable
from dbseal.format.reader import decrypt_payload
from dbseal.format.stanza import MAX_STANZAS, Stanza
from dbseal.pipeline import BackgroundHash, BackgroundWriter, background

READ_SIZE = 1 << 20
_EOF = object()


@dataclass(frozen=True)
class SealResult:
    file_id: bytes
    plaintext_bytes: int
    stored_bytes: int
    sha256: bytes
    data_key: Secret = field(repr=False)
    envelope: bytes | None = field(default=None, repr=False)  # when the stanzas are detached
    compressed_bytes: int = 0
    plaintext_sha256: bytes | None = None


def default_label(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    label: dict[str, Any] = {"created": now, "tool": f"dbseal {__version__}"}
    label.update(extra or {})
    return label


def _reader_thread(src: Readable, q: queue.Queue[object], stop: threading.Event) -> None:
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


def _blocks(src: Readable) -> Iterator[bytes]:
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
            yield item if isinstance(item, bytes) else bytes(item)  # type: ignore[call-overload]
    finally:
        stop.set()
        while t.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)


def new_file_keys() -> tuple[bytes, bytes]:
    """A fresh (data key, file id) pair."""
    return os.urandom(DATA_KEY_LEN), os.urandom(FILE_ID_LEN)


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes | memoryview: ...


def seal_stream(
    src: Readable,
    out: Writable,
    recipients: Sequence[Recipient],
    codec: Codec,
    label: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    detached: bool = False,
    keys: tuple[bytes, bytes] | None = None,
    hash_plaintext: bool = False,
) -> SealResult:
    """Compress, encrypt and frame everything read from ``src`` into ``out``.

    With ``detached`` the stanzas go into a key envelope (returned in the
    result) instead of the header. ``keys`` is an optional (data key, file id)
    pair made by :func:`new_file_keys`, for callers that need them up front.
    """
    if not recipients:
        raise UsageError(
            "no recipient given", hint="use -r, -R, --keyring/--key or a passphrase option"
        )
    data_key, file_id = keys or new_file_keys()
    stanzas = [s for r in recipients for s in r.wrap(data_key, file_id)]
    if len(stanzas) > MAX_STANZAS:
        raise UsageError(f"{len(stanzas)} recipients is more than a file can hold ({MAX_STANZAS})")
    label = default_label(label)
    if len(json.dumps(label, sort_keys=True, separators=(",", ":")).encode()) > MAX_LABEL_LEN:
        raise UsageError(
            f"the label is larger than {MAX_LABEL_LEN} bytes", hint="keep labels short"
        )
    sub = derive_subkeys(data_key, file_id)
    header = Header(
        SUITE_COBBLESTONE256,
        codec.codec_id,
        codec.level,
        file_id,
        label,
        [] if detached else stanzas,
        FLAG_DETACHED if detached else 0,
    )
    raw_header = header.encode(sub.header_mac)
    envelope = for_header(raw_header, file_id, stanzas).encode(sub.header_mac) if detached else None
    comp = codec.compressor()
    total = compressed = 0
    # Writing and hashing the ciphertext run on their own threads, overlapping
    # reading (reader thread), compression (zstd workers) and encryption (here).
    sink, hasher = BackgroundWriter(out), BackgroundHash()
    plain_hash = BackgroundHash() if hash_plaintext else None
    try:
        ctx = payload_context(header.suite, codec.codec_id, file_id)
        writer = PayloadWriter(sink, raw_header, sub.payload, ctx, hasher)
        for block in _blocks(src):
            total += len(block)
            if plain_hash is not None:
                plain_hash.update(block)
            piece = comp.compress(block)
            compressed += len(piece)
            writer.write(piece)
            if progress:
                progress(total)
        piece = comp.flush()
        compressed += len(piece)
        writer.write(piece)
        digest = writer.finish()
        sink.close()
    except OSError as exc:
        sink.abort()
        raise OutputError(f"cannot write the sealed output: {exc.strerror or exc}") from None
    except BaseException:
        sink.abort()
        raise
    return SealResult(
        file_id,
        total,
        writer.stored_bytes,
        digest,
        Secret(data_key),
        envelope,
        compressed,
        plain_hash.digest() if plain_hash is not None else None,
    )


def unwrap_data_key(
    header: Header, identities: Sequence[Identity], envelope: bytes | None = None
) -> bytes:
    """The data key from the first identity that opens a stanza; MACs are then checked."""
    env = None
    stanzas = header.stanzas
    if header.detached:
        if envelope is None:
            raise UsageError(
                "this data object keeps its keys in a separate key envelope",
                hint="open it through the repository (`dbseal restore`), or pass the envelope",
            )
        env = parse_envelope(envelope)
        env.check_matches(header)
        stanzas = env.stanzas
    key = unwrap_stanzas(stanzas, header.file_id, identities)
    mac_key = derive_subkeys(key, header.file_id).header_mac
    header.verify_mac(mac_key)
    if env is not None:
        env.verify_mac(mac_key)
    return key


def unwrap_envelope(envelope: bytes, identities: Sequence[Identity]) -> tuple[bytes, bytes]:
    """``(data key, file id)`` from a key envelope alone (its MAC checked); no data object read."""
    env = parse_envelope(envelope)
    key = unwrap_stanzas(env.stanzas, env.file_id, identities)
    env.verify_mac(derive_subkeys(key, env.file_id).header_mac)
    return key, env.file_id


def unwrap_stanzas(
    stanzas: Sequence[Stanza], file_id: bytes, identities: Sequence[Identity]
) -> bytes:
    """The data key from the first identity that opens one of ``stanzas`` (no MAC checked here)."""
    for ident in identities:
        key = ident.unwrap(stanzas, file_id)
        if key is not None:
            return key
    for ident in identities:  # an identity that knows why it could not open says so
        failure = getattr(ident, "failure", None)
        if isinstance(failure, DbsealError):
            raise failure
    types = sorted({s.type for s in stanzas})
    raise NoMatchingKey(
        "none of the given identities, keyring keys or passphrases opens this file "
        f"(it is sealed for: {', '.join(types) or 'nobody'})"
    )


def open_sealed(
    src: BinaryIO, identities: Sequence[Identity], envelope: bytes | None = None
) -> tuple[Header, Iterator[bytes]]:
    """Read the header, unwrap the key; returns the header and the plaintext pieces.

    The iterator raises the format's errors; it yields its final piece only
    after everything (every chunk, the final chunk, the trailer) has checked out.
    """
    opened = open_sealed_with_key(src, identities, envelope)
    return opened.header, opened.plaintext


@dataclass
class Opened:
    header: Header
    data_key: Secret = field(repr=False)
    plaintext: Iterator[bytes] = field(repr=False)


def open_sealed_with_key(
    src: BinaryIO, identities: Sequence[Identity], envelope: bytes | None = None
) -> Opened:
    """Like :func:`open_sealed`, also returning the data key (for manifest MACs)."""
    header = read_header(src)
    codec = codec_by_id(header.codec)
    if not identities:
        raise NoMatchingKey("no identity, keyring or passphrase was given")
    data_key = unwrap_data_key(header, identities, envelope)
    sub = derive_subkeys(data_key, header.file_id)
    # Reading, hashing and decrypting run ahead on worker threads while the
    # consumer decompresses.
    compressed = background(
        decrypt_payload(
            src,
            header.raw,
            sub.payload,
            payload_context(header.suite, header.codec, header.file_id),
            BackgroundHash(),
        ),
        name="dbseal-decrypt",
    )

    def plain() -> Iterator[bytes]:
        try:
            yield from codec.decompress(compressed)
        except ValueError as exc:
            raise PayloadCorrupted(
                f"the payload authenticates but does not decompress: {exc}",
                hint="the writer was faulty or a key holder altered the file; "
                "use another copy or another backup",
            ) from None

    return Opened(header, Secret(data_key), plain())
