"""X25519 keys in age's Bech32 encodings: age-keygen keys work here, ours round trip,
and anything malformed is an InvalidKeySpec that never echoes a secret key."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import bech32
import pytest

from dbseal.crypto.x25519 import (
    X25519Identity,
    X25519Recipient,
    parse_identity_file,
    parse_recipients_file,
)
from dbseal.errors import InvalidKeySpec
from unit.sealkit import open_bytes, seal_bytes

needs_age = pytest.mark.skipif(
    shutil.which("age-keygen") is None, reason="age-keygen not installed"
)


def _bech32(hrp: str, data: bytes) -> str:
    return str(bech32.bech32_encode(hrp, bech32.convertbits(data, 8, 5)))


def _bad_checksum(text: str) -> str:
    last = text[-1]
    swap = "q" if last.lower() != "q" else "p"
    return text[:-1] + (swap.upper() if last.isupper() else swap)


@needs_age
def test_key_made_by_age_keygen_parses_and_opens_what_it_was_sealed_for(tmp_path: Path) -> None:
    key_file = tmp_path / "age.key"
    subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(key_file)], check=True, capture_output=True, text=True
    ).stdout.strip()

    [ident] = parse_identity_file(key_file.read_text(), str(key_file))

    assert ident.recipient().encode() == public
    sealed = seal_bytes(b"for age-keygen", [X25519Recipient.parse(public)])
    assert open_bytes(sealed, [ident]) == b"for age-keygen"


def test_encodings_round_trip() -> None:
    ident = X25519Identity.generate()
    secret_text = ident.encode()
    public_text = ident.recipient().encode()
    assert secret_text.startswith("AGE-SECRET-KEY-1") and secret_text.isupper()
    assert public_text.startswith("age1") and len(public_text) == 62
    again = X25519Identity.parse(secret_text)
    assert again.encode() == secret_text
    assert again.public == ident.public
    assert X25519Recipient.parse(public_text).public == ident.public
    assert X25519Recipient.parse(f"  {public_text}\n").encode() == public_text


def test_identity_file_text_is_what_age_writes() -> None:
    ident = X25519Identity.generate()
    text = ident.identity_file_text()
    lines = text.splitlines()
    assert lines[0].startswith("# created: ")
    assert lines[1] == f"# public key: {ident.recipient().encode()}"
    assert lines[2] == ident.encode()
    assert [i.public for i in parse_identity_file(text, "f")] == [ident.public]


def test_invalid_checksum_is_an_invalid_key_spec_that_does_not_echo_the_secret() -> None:
    ident = X25519Identity.generate()
    broken_secret = _bad_checksum(ident.encode())
    with pytest.raises(InvalidKeySpec) as exc:
        X25519Identity.parse(broken_secret)
    assert exc.value.exit_code == 11
    assert broken_secret[16:] not in exc.value.one_line()
    with pytest.raises(InvalidKeySpec) as exc2:
        parse_identity_file(f"# comment\n{broken_secret}\n", "keys.txt")
    assert broken_secret[16:] not in exc2.value.one_line()

    with pytest.raises(InvalidKeySpec):
        X25519Recipient.parse(_bad_checksum(ident.recipient().encode()))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "age1",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        _bech32("age", bytes(range(31))),  # wrong length
        _bech32("age", bytes(range(33))),
        _bech32("agf", bytes(range(32))),  # wrong HRP
        _bech32("age-secret-key-", bytes(range(32))),  # an identity is not a recipient
    ],
    ids=["empty", "hrp-only", "ssh-key", "31-bytes", "33-bytes", "other-hrp", "identity"],
)
def test_malformed_recipients_are_refused(text: str) -> None:
    with pytest.raises(InvalidKeySpec):
        X25519Recipient.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "AGE-SECRET-KEY-1",
        _bech32("age-secret-key-", bytes(range(31))).upper(),
        _bech32("age", bytes(range(32))),  # a recipient is not an identity
        "AGE-PLUGIN-YUBIKEY-1QQQQQQ",
    ],
    ids=["hrp-only", "31-bytes", "recipient", "plugin"],
)
def test_malformed_identities_are_refused(text: str) -> None:
    with pytest.raises(InvalidKeySpec):
        X25519Identity.parse(text)


def test_identity_file_skips_comments_and_names_the_bad_line() -> None:
    a, b = X25519Identity.generate(), X25519Identity.generate()
    text = f"# one\n\n{a.encode()}\n   \n# two\n{b.encode()}\n"
    assert [i.public for i in parse_identity_file(text, "f")] == [a.public, b.public]
    with pytest.raises(InvalidKeySpec, match="line 3"):
        parse_identity_file(f"# ok\n{a.encode()}\nnot a key\n", "ids.txt")
    with pytest.raises(InvalidKeySpec, match="no AGE-SECRET-KEY"):
        parse_identity_file("# only comments\n\n", "ids.txt")


def test_recipients_file_skips_comments_and_names_the_bad_line() -> None:
    a, b = X25519Identity.generate(), X25519Identity.generate()
    text = f"# escrow\n{a.recipient().encode()}\n\n{b.recipient().encode()}\n"
    assert [r.public for r in parse_recipients_file(text, "f")] == [a.public, b.public]
    with pytest.raises(InvalidKeySpec, match="line 2"):
        parse_recipients_file(f"{a.recipient().encode()}\nage1nope\n", "r.txt")
    with pytest.raises(InvalidKeySpec):
        parse_recipients_file("", "r.txt")


def test_stanza_records_the_recipient_but_not_for_others() -> None:
    a, b = X25519Identity.generate(), X25519Identity.generate()
    fid, dk = os.urandom(16), os.urandom(32)
    [stanza] = a.recipient().wrap(dk, fid)
    assert stanza.args[1] == a.public
    assert a.unwrap([stanza], fid) == dk
    assert b.unwrap([stanza], fid) is None
    # b cannot get in by claiming to be the recipient either
    assert b.unwrap([type(stanza)("x25519", (stanza.args[0], b.public), stanza.body)], fid) is None


def test_mixed_case_keys_are_refused_like_age_does() -> None:
    ident = X25519Identity.generate()
    public = ident.recipient().encode()
    with pytest.raises(InvalidKeySpec):
        X25519Recipient.parse(public[:10] + public[10:].upper())
    secret = ident.encode()
    with pytest.raises(InvalidKeySpec):
        X25519Identity.parse(secret[:20] + secret[20:].lower())
