"""The corpus's damage classes: flips, cuts, appends, chunk edits, bad streams, bad parameters."""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any

from corpus_build import SealSpec, build, compress, det

from dbseal.format.header import MAGIC, PREAMBLE_LEN
from dbseal.format.payload import TRAILER_LEN, encode_trailer
from dbseal.format.stanza import Stanza

WIRE = 16400  # one full chunk as stored
PREFIX = 56  # Cobblestone salt || commitment


def _hlen(data: bytes) -> int:
    return PREAMBLE_LEN + int(struct.unpack(">I", data[8:12])[0])


def _flip(data: bytes, pos: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[pos] ^= mask
    return bytes(out)


def _recheck(header: bytes) -> bytes:
    """Recompute the keyless check (anyone can): only the MAC or the AEAD can tell."""
    return header[:-32] + hashlib.sha256(header[:-32]).digest()


def _retrail(header: bytes, payload: bytes) -> bytes:
    return (
        header + payload + encode_trailer(len(payload), hashlib.sha256(header + payload).digest())
    )


def _parts(data: bytes) -> tuple[bytes, bytes, bytes]:
    h = _hlen(data)
    return data[:h], data[h:-TRAILER_LEN], data[-TRAILER_LEN:]


def _preamble(version: int, header_len: int) -> bytes:
    head = MAGIC + struct.pack(">BI", version, header_len)
    return head + struct.pack(">I", zlib.crc32(head))


def _field_offsets(data: bytes) -> dict[str, int]:
    """Offsets of every header field of a one-x25519-stanza file."""
    label_len = int(struct.unpack(">I", data[36:40])[0])
    st = 40 + label_len  # stanza_count
    h = _hlen(data)
    return {
        "suite": 16,
        "codec": 17,
        "level": 18,
        "flags": 19,
        "file_id": 20,
        "label_len": 36,
        "label": 40,
        "stanza_count": st,
        "stanza_type_len": st + 2,
        "stanza_type": st + 3,
        "stanza_arg_count": st + 9,
        "stanza_arg0_len": st + 10,
        "stanza_arg0": st + 12,
        "stanza_arg1": st + 46,
        "stanza_body_len": st + 78,
        "stanza_body": st + 80,
        "mac": h - 64,
        "check": h - 32,
    }


def _header_flips(c: Any, base: bytes) -> None:
    for region, pos, outcome in [
        ("magic-first", 0, "not_dbseal"),
        ("magic-last", 6, "not_dbseal"),
        ("version", 7, "unsupported_version"),
        ("header_len", 9, "header_failure"),
        ("header_len-low", 11, "header_failure"),
        ("preamble_crc", 13, "header_failure"),
    ]:
        f = c.add_file(f"flip-{region}.dbseal", _flip(base, pos))
        c.expect(f"flip-{region}", f, ["x25519"], outcome, f"one bit flipped in the {region}")
    for fname, pos in _field_offsets(base).items():
        f = c.add_file(f"flip-header-{fname}.dbseal", _flip(base, pos))
        c.expect(
            f"flip-header-{fname}",
            f,
            ["x25519"],
            "header_failure",
            f"one bit flipped in header field {fname}: the keyless check fails",
        )
    # the same edits with the keyless check recomputed: what decides is the field's meaning
    header, payload, _ = _parts(base)
    forged = {
        "suite": "unsupported_version",
        "codec": "unsupported_version",
        "flags": "unsupported_version",
        "level": "header_failure",
        "file_id": "no_match",
        "label": "header_failure",
        "stanza_arg0": "no_match",
        "stanza_arg1": "no_match",
        "stanza_body": "no_match",
        "mac": "header_failure",
    }
    offsets = _field_offsets(base)
    for fname, outcome in forged.items():
        # the label stays valid JSON; the codec becomes unknown (4); flags gain bit 1
        mask = {"label": 0x02, "codec": 0x04, "flags": 0x02}.get(fname, 0x01)
        pos = base.index(b'"tool"') + 2 if fname == "label" else offsets[fname]
        edited = _recheck(_flip(header, pos, mask))
        f = c.add_file(f"forge-{fname}.dbseal", _retrail(edited, payload))
        c.expect(
            f"forge-{fname}",
            f,
            ["x25519"],
            outcome,
            f"header field {fname} edited, check and trailer recomputed",
        )


def _structure(c: Any, base: bytes) -> None:
    header, payload, _ = _parts(base)
    body = header[PREAMBLE_LEN:-64]
    fid = body[4:20]
    fixed = body[:20]

    def block(label: bytes, stanzas: bytes) -> bytes:
        inner = fixed + struct.pack(">I", len(label)) + label + stanzas
        signed = _preamble(1, len(inner) + 64) + inner + det("forged mac", 32)
        return signed + hashlib.sha256(signed).digest()

    good_stanza = body[body.index(b"\x06x25519") - 2 :]  # count || the stanza
    cases = {
        "label-not-utf8": (b'{"a":"\xff"}', good_stanza, "header_failure"),
        "label-not-json": (b"{not json", good_stanza, "header_failure"),
        "label-array": (b"[1,2]", good_stanza, "header_failure"),
        "label-empty-object": (b"{}", good_stanza, "header_failure"),  # MAC then fails
        "stanza-type-upper": (b"{}", b"\x00\x01\x06X25519\x00\x00\x00", "header_failure"),
        "stanza-type-empty": (b"{}", b"\x00\x01\x00\x00\x00\x00", "header_failure"),
        "stanza-17-args": (
            b"{}",
            b"\x00\x01\x01x\x11" + b"\x00\x00" * 17 + b"\x00\x00",
            "header_failure",
        ),
        "stanza-overruns": (b"{}", b"\x00\x01\x01x\x00\xff\xff", "header_failure"),
        "bytes-after-stanzas": (b"{}", good_stanza + b"\x00", "header_failure"),
        "no-stanza-count": (b"{}", b"", "header_failure"),
    }
    for name, (label, stanzas, outcome) in cases.items():
        f = c.add_file(f"structure-{name}.dbseal", _retrail(block(label, stanzas), payload))
        c.expect(
            f"structure-{name}",
            f,
            ["x25519"],
            outcome,
            f"malformed header ({name}) with a valid keyless check",
        )
    for name, hl in (
        ("header-len-89", 89),
        ("header-len-over-1mib", (1 << 20) + 1),
        ("header-len-84", 84),
    ):
        f = c.add_file(f"{name}.dbseal", _preamble(1, hl) + header[16:] + payload)
        c.expect(name, f, ["x25519"], "header_failure", f"header_len {hl}, CRC recomputed")
    for v in (0, 2, 255):
        f = c.add_file(f"version-{v}.dbseal", _preamble(v, _hlen(base) - 16) + base[16:])
        c.expect(
            f"version-{v}",
            f,
            ["x25519"],
            "unsupported_version",
            f"format version {v}, CRC recomputed",
        )
    assert fid  # (the file id is kept: only framing changes above)


def _payload_damage(c: Any, base: bytes) -> None:
    header, payload, trailer = _parts(base)
    n_full = (len(payload) - PREFIX) // WIRE
    assert n_full >= 3, "the damage base needs three full chunks"
    spots = {
        "salt": 3,
        "commitment": 30,
        "chunk0-first": PREFIX,
        "chunk0-tag": PREFIX + WIRE - 1,
        "chunk1-middle": PREFIX + WIRE + 8000,
        "final-chunk": PREFIX + 3 * WIRE + 10,
        "final-tag": len(payload) - 1,
    }
    for name, pos in spots.items():
        damaged = _flip(payload, pos)
        f = c.add_file(f"payload-flip-{name}.dbseal", _retrail(header, damaged))
        c.expect(
            f"payload-flip-{name}",
            f,
            ["x25519"],
            "payload_failure",
            f"one bit flipped in the payload ({name}), trailer recomputed",
        )
        if name in ("commitment", "chunk1-middle", "final-tag"):
            f = c.add_file(f"payload-flip-{name}-old-trailer.dbseal", header + damaged + trailer)
            c.expect(
                f"payload-flip-{name}-old-trailer",
                f,
                ["x25519"],
                "payload_failure",
                f"one bit flipped in the payload ({name}), trailer left as it was",
            )
    chunks = [payload[PREFIX + i * WIRE : PREFIX + (i + 1) * WIRE] for i in range(n_full)]
    final = payload[PREFIX + n_full * WIRE :]
    pre = payload[:PREFIX]
    edits = {
        "swap-0-1": [chunks[1], chunks[0], *chunks[2:], final],
        "duplicate-0": [chunks[0], *chunks, final],
        "drop-1": [chunks[0], *chunks[2:], final],
        "drop-final": chunks,
        "final-first": [final, *chunks],
        "reverse": [*reversed(chunks), final],
    }
    for name, seq in edits.items():
        f = c.add_file(f"chunks-{name}.dbseal", _retrail(header, pre + b"".join(seq)))
        c.expect(
            f"chunks-{name}",
            f,
            ["x25519"],
            "payload_failure",
            f"payload chunks edited ({name}), trailer recomputed",
        )


def _chunk_cuts(c: Any, base: bytes) -> None:
    h = _hlen(base)
    for name, length in [
        ("chunk0-middle", h + PREFIX + 9000),
        ("after-chunk0", h + PREFIX + WIRE),
        ("after-chunk2", h + PREFIX + 3 * WIRE),
        ("chunk1-first-byte", h + PREFIX + WIRE + 1),
    ]:
        f = c.add_file(f"cut-{name}.dbseal", base[:length])
        c.expect(f"cut-{name}", f, ["x25519"], "truncated", f"cut after {length} bytes ({name})")


def _cuts(c: Any, base: bytes) -> None:
    h, n = _hlen(base), len(base)
    p_end = n - TRAILER_LEN
    cuts: list[tuple[str, int, str]] = [("empty", 0, "not_dbseal")]
    cuts += [(f"magic-{k}", k, "truncated") for k in (1, 6, 7)]
    cuts += [(f"preamble-{k}", k, "truncated") for k in (8, 12, 15)]
    cuts += [
        ("header-start", 16, "truncated"),
        ("header-middle", h // 2, "truncated"),
        ("header-before-check", h - 32, "truncated"),
        ("header-last-byte", h - 1, "truncated"),
        ("header-end", h, "truncated"),
        ("salt", h + 10, "truncated"),
        ("before-chunk0", h + PREFIX, "truncated"),
        ("chunk0-first-byte", h + PREFIX + 1, "truncated"),
        ("final-chunk-middle", p_end - 20, "truncated"),
        ("final-chunk-last-byte", p_end - 1, "truncated"),
        ("trailer-removed", p_end, "trailer_mismatch"),
    ]
    cuts += [(f"trailer-{k}", p_end + k, "trailer_mismatch") for k in (1, 7, 8, 16, 47)]
    for name, length, outcome in cuts:
        f = c.add_file(f"cut-{name}.dbseal", base[:length])
        c.expect(f"cut-{name}", f, ["x25519"], outcome, f"cut after {length} bytes ({name})")


def _appends(c: Any, base: bytes) -> None:
    extras = {
        "1-zero": b"\x00",
        "newline": b"\n",
        "48-zeros": bytes(48),
        "100-random": det("a", 100),
        "trailer-twice": base[-TRAILER_LEN:],
        "16400-random": det("b", 16400),
        "20000-random": det("c", 20000),
        "whole-file-twice": base,
    }
    for name, extra in extras.items():
        f = c.add_file(f"append-{name}.dbseal", base + extra)
        c.expect(
            f"append-{name}",
            f,
            ["x25519"],
            "trailer_mismatch",
            f"{len(extra)} bytes appended after the trailer ({name})",
        )
    header, payload, trailer = _parts(base)
    for name, edit in {"magic": 0, "payload_len": 15, "sha256": 40}.items():
        f = c.add_file(f"trailer-flip-{name}.dbseal", header + payload + _flip(trailer, edit))
        c.expect(
            f"trailer-flip-{name}",
            f,
            ["x25519"],
            "trailer_mismatch",
            f"one bit flipped in the trailer's {name}",
        )


def _streams(c: Any, small: bytes) -> None:
    for codec in ("zstd", "lz4", "gzip"):
        one = compress(codec, 3 if codec == "zstd" else 6 if codec == "gzip" else 0, small)
        bad = {
            "two-streams": one + compress(codec, 1, b"more"),
            "trailing-bytes": one + b"\x00\x01",
            "cut-short": one[:-3],
            "cut-half": one[: len(one) // 2],
            "empty": b"",
            "not-compressed": small,
        }
        for name, stream in bad.items():
            spec = SealSpec(f"stream {codec} {name}", b"", ["x25519"], codec, 1, compressed=stream)
            f = c.add_file(f"stream-{codec}-{name}.dbseal", build(spec)[0])
            c.expect(
                f"stream-{codec}-{name}",
                f,
                ["x25519"],
                "payload_failure",
                f"authenticated payload, {codec} stream {name}: does not decompress",
            )


def _kdf_and_stanzas(c: Any, small: bytes) -> None:
    unsafe = {
        "memory-low": "1024,3,1",
        "memory-high": "2097152,2,1",
        "iterations-1": "65536,1,1",
        "iterations-17": "19456,17,1",
        "lanes-0": "19456,2,0",
        "lanes-17": "19456,2,17",
        "work-too-high": "1048576,5,1",
    }
    for name, params in unsafe.items():
        data, _ = build(SealSpec(f"kdf {name}", small, [f"argon2id@{params}"]))
        f = c.add_file(f"kdf-{name}.dbseal", data)
        c.expect(
            f"kdf-{name}",
            f,
            ["passphrase"],
            "unsafe_parameters",
            f"Argon2id parameters m,t,p={params}: refused before the KDF runs",
        )
    data, _ = build(SealSpec("kdf unsafe then x25519", small, ["argon2id@1024,3,1", "x25519"]))
    f = c.add_file("kdf-unsafe-then-x25519.dbseal", data)
    c.expect(
        "kdf-unsafe-by-identity",
        f,
        ["x25519"],
        "success",
        "an unsafe argon2id stanza is never looked at by an X25519 identity",
        small,
    )
    kinds = {
        "five-passphrases": (["argon2id-other"] * 4 + ["argon2id"], ["passphrase"], "no_match"),
        "four-passphrases": (["argon2id-other"] * 3 + ["argon2id"], ["passphrase"], "success"),
        "x25519-zero-share": (["x25519-zero-share"], ["x25519"], "no_match"),
        "x25519-three-args": (["x25519-three-args"], ["x25519"], "no_match"),
        "malformed-then-good": (["x25519-three-args", "x25519"], ["x25519"], "success"),
        "unknown-only": (["future"], ["x25519"], "no_match"),
        "no-stanzas": ([], ["x25519"], "no_match"),
    }
    for name, (stanzas, keys, outcome) in kinds.items():
        data, _ = build(SealSpec(f"stanzas {name}", small, stanzas))
        f = c.add_file(f"stanzas-{name}.dbseal", data)
        c.expect(
            f"stanzas-{name}",
            f,
            keys,
            outcome,
            f"stanzas {stanzas}",
            small if outcome == "success" else None,
        )


def _unsupported(c: Any, small: bytes) -> None:
    for name, kw in {
        "suite-2": {"suite": 2},
        "codec-4": {"codec_id": 4},
        "flags-2": {"flags": 2},
        "flags-80": {"flags": 0x80},
    }.items():
        data, _ = build(SealSpec(f"unsupported {name}", small, ["x25519"], "none", 0, **kw))
        f = c.add_file(f"unsupported-{name}.dbseal", data)
        c.expect(
            f"unsupported-{name}",
            f,
            ["x25519"],
            "unsupported_version",
            f"{name} with a valid MAC: a later version's file",
        )


def _envelopes(c: Any, small: bytes) -> None:
    data, env = build(SealSpec("envelope base", small, ["x25519"], "none", 0, detached=True))
    other_data, other_env = build(
        SealSpec("envelope other", small, ["x25519"], "none", 0, detached=True)
    )
    assert env is not None and other_env is not None
    f = c.add_file("envelope-base.dbseal", data)
    cases = {
        "flipped-stanza": (_flip(env, 60), "header_failure"),
        "flipped-mac": (_flip(env, len(env) - 40), "header_failure"),
        "mac-forged": (_recheck_env(_flip(env, len(env) - 40)), "header_failure"),
        "of-another-file": (other_env, "header_failure"),
        "version-2": (env[:7] + b"\x02" + env[8:], "unsupported_version"),
        "not-an-envelope": (small, "not_dbseal"),
        "truncated": (env[:40], "truncated"),
    }
    c.expect(
        "envelope-ok",
        f,
        ["x25519"],
        "success",
        "detached key envelope",
        small,
        c.add_file("envelope-base.env", env),
    )
    for name, (blob, outcome) in cases.items():
        e = c.add_file(f"envelope-{name}.env", blob)
        c.expect(f"envelope-{name}", f, ["x25519"], outcome, f"key envelope {name}", None, e)
    h = _hlen(data)
    stanza = Stanza("future-kind.v2", (), b"").encode()
    body = data[16 : h - 64]
    inner = body[:-2] + b"\x00\x01" + stanza
    signed = _preamble(1, len(inner) + 64) + inner + det("mac", 32)
    forged = signed + hashlib.sha256(signed).digest()
    f2 = c.add_file("envelope-detached-with-stanzas.dbseal", _retrail(forged, data[h:-48]))
    c.expect(
        "envelope-detached-with-stanzas",
        f2,
        ["x25519"],
        "header_failure",
        "detached flag set but the header holds a stanza",
        None,
        "envelope-base.env",
    )
    assert other_data


def _recheck_env(env: bytes) -> bytes:
    return env[:-32] + hashlib.sha256(env[:-32]).digest()


def _per_codec(c: Any) -> None:
    """The most common damages on each compressed file: no codec hides them."""
    for codec in ("zstd-3", "lz4-0", "gzip-6"):
        base = c.files[f"codec-{codec}-small.dbseal"]
        header, payload, _trailer = _parts(base)
        cases = {
            "payload-flip": (
                _retrail(header, _flip(payload, len(payload) // 2)),
                "payload_failure",
            ),
            "trailer-removed": (base[:-TRAILER_LEN], "trailer_mismatch"),
            "append-1": (base + b"\x00", "trailer_mismatch"),
            "cut-final-chunk": (base[: -TRAILER_LEN - 5], "truncated"),
        }
        for name, (data, outcome) in cases.items():
            f = c.add_file(f"codec-{codec}-{name}.dbseal", data)
            c.expect(f"codec-{codec}-{name}", f, ["x25519"], outcome, f"{codec} file, {name}")


def damage_vectors(c: Any, small: bytes) -> None:
    base_spec = SealSpec(
        "damage base", det("damage plaintext", 3 * 16384 + 100), ["x25519"], "none", 0
    )
    chunks = c.sealed("damage-chunks", base_spec, ["x25519"], "the base of chunk damage")
    small_spec = SealSpec("damage small", small, ["x25519"], "none", 0)
    base = c.sealed("damage-base", small_spec, ["x25519"], "the base of most damage vectors")
    _header_flips(c, base)
    _structure(c, base)
    _payload_damage(c, chunks)
    _chunk_cuts(c, chunks)
    _cuts(c, base)
    _appends(c, base)
    _streams(c, small)
    _kdf_and_stanzas(c, small)
    _unsupported(c, small)
    _envelopes(c, small)
    _per_codec(c)
