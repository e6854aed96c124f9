"""The local keyring: created private, sealed under its passphrase, versioned keys that keep
old files open while new files use the newest version."""

from __future__ import annotations

import json
import stat
import struct
import time
from pathlib import Path

import pytest

from dbseal.crypto.keyring import (
    Keyring,
    KeyringIdentity,
    KeyringRecipient,
    check_key_name,
    parse_key_ref,
)
from dbseal.crypto.secret import Secret
from dbseal.errors import KeyringError, NoMatchingKey, UnsafeParameters, UsageError
from unit.sealkit import FAST_KDF, open_bytes, seal_bytes, split

PW = Secret(b"tr0ub4dor&3-ring")


@pytest.fixture
def ring_dir(tmp_path: Path) -> Path:
    return tmp_path / "ring"


@pytest.fixture
def ring(ring_dir: Path) -> Keyring:
    return Keyring.init(str(ring_dir), PW, "backup", FAST_KDF)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_directory_and_file(ring: Keyring, ring_dir: Path) -> None:
    assert _mode(ring_dir) == 0o700
    assert _mode(ring_dir / "keyring.json") == 0o600
    assert sorted(p.name for p in ring_dir.iterdir()) == ["keyring.json", "keyring.lock"]
    assert _mode(ring_dir / "keyring.lock") == 0o600


def test_init_tightens_an_existing_open_directory(tmp_path: Path) -> None:
    d = tmp_path / "shared"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    Keyring.init(str(d), PW, "backup", FAST_KDF)
    assert _mode(d) == 0o700


def test_key_material_is_not_stored_in_clear(ring: Keyring, ring_dir: Path) -> None:
    text = (ring_dir / "keyring.json").read_text()
    outer = json.loads(text)
    assert outer["dbseal_keyring"] == 1
    assert outer["kdf"]["alg"] == "argon2id"
    kek = ring.get("backup").kek
    assert kek.hex() not in text
    assert "backup" not in text  # key names are inside the sealed part too


def test_reopen_with_the_right_passphrase(ring: Keyring, ring_dir: Path) -> None:
    again = Keyring.open(str(ring_dir), Secret(b"tr0ub4dor&3-ring"))
    assert again.keyring_id == ring.keyring_id
    assert again.get("backup").kek == ring.get("backup").kek
    assert again.get("backup").version == 1


def test_wrong_passphrase_is_no_matching_key(ring: Keyring, ring_dir: Path) -> None:
    with pytest.raises(NoMatchingKey) as exc:
        Keyring.open(str(ring_dir), Secret(b"tr0ub4dor&3-rinG"))
    assert exc.value.exit_code == 5
    assert "tr0ub4dor" not in exc.value.one_line()


def test_modified_keyring_file_does_not_open(ring: Keyring, ring_dir: Path) -> None:
    path = ring_dir / "keyring.json"
    outer = json.loads(path.read_text())
    outer["keyring_id"] = "00" * 16  # an attacker swapping ids: the AAD catches it
    path.write_text(json.dumps(outer))
    with pytest.raises(NoMatchingKey):
        Keyring.open(str(ring_dir), PW)


def test_unsafe_kdf_parameters_in_the_keyring_file_are_refused_fast(
    ring: Keyring, ring_dir: Path
) -> None:
    path = ring_dir / "keyring.json"
    outer = json.loads(path.read_text())
    outer["kdf"]["memory_kib"] = 0xFFFFFFFF
    path.write_text(json.dumps(outer))
    start = time.perf_counter()
    with pytest.raises(UnsafeParameters):
        Keyring.open(str(ring_dir), PW)
    assert time.perf_counter() - start < 1.0


def test_missing_damaged_or_duplicate_keyrings_are_keyring_errors(
    ring: Keyring, ring_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(KeyringError) as exc:
        Keyring.open(str(tmp_path / "nowhere"), PW)
    assert exc.value.exit_code == 13
    with pytest.raises(KeyringError, match="already exists"):
        Keyring.init(str(ring_dir), PW, "other", FAST_KDF)
    (ring_dir / "keyring.json").write_text("{not json")
    with pytest.raises(KeyringError):
        Keyring.open(str(ring_dir), PW)


def test_new_version_new_seals_use_it_and_old_files_still_open(
    ring: Keyring, ring_dir: Path
) -> None:
    old_file = seal_bytes(b"sealed under v1", [KeyringRecipient(ring, "backup")])
    ring.add_version("backup")
    ring.save(PW, FAST_KDF)

    reopened = Keyring.open(str(ring_dir), PW)
    assert [v.version for v in reopened.keys["backup"]] == [1, 2]
    new_file = seal_bytes(b"sealed under v2", [KeyringRecipient(reopened, "backup")])

    [stanza] = split(new_file).header.stanzas
    assert stanza.type == "keyring"
    assert stanza.args[0] == ring.keyring_id
    assert stanza.args[1] == b"backup"
    assert struct.unpack(">I", stanza.args[2])[0] == 2
    [old_stanza] = split(old_file).header.stanzas
    assert struct.unpack(">I", old_stanza.args[2])[0] == 1

    ident = KeyringIdentity(reopened)
    assert open_bytes(old_file, [ident]) == b"sealed under v1"
    assert open_bytes(new_file, [ident]) == b"sealed under v2"

    pinned = seal_bytes(b"pinned", [KeyringRecipient(reopened, "backup", 1)])
    assert struct.unpack(">I", split(pinned).header.stanzas[0].args[2])[0] == 1
    assert open_bytes(pinned, [ident]) == b"pinned"


def test_a_keyring_that_lost_the_old_version_cannot_open_old_files(
    ring: Keyring, ring_dir: Path
) -> None:
    old_file = seal_bytes(b"v1 data", [KeyringRecipient(ring, "backup")])
    ring.keys["backup"] = []
    ring.add_version("backup")  # a fresh key that happens to be numbered 1
    with pytest.raises(NoMatchingKey):
        open_bytes(old_file, [KeyringIdentity(ring)])


def test_unknown_key_or_version_is_a_keyring_error(ring: Keyring) -> None:
    with pytest.raises(KeyringError):
        KeyringRecipient(ring, "nope")
    with pytest.raises(KeyringError):
        KeyringRecipient(ring, "backup", 7)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("backup", ("backup", None)),
        ("backup:2", ("backup", 2)),
        ("db-1.prod_x", ("db-1.prod_x", None)),
    ],
)
def test_key_references(ref: str, expected: tuple[str, int | None]) -> None:
    assert parse_key_ref(ref) == expected


@pytest.mark.parametrize(
    "ref", ["", "backup:", "backup:0", "backup:-1", "backup:x", "-x", "a b", "a" * 65]
)
def test_bad_key_references_are_usage_errors(ref: str) -> None:
    with pytest.raises(UsageError):
        parse_key_ref(ref)


def test_key_name_with_a_trailing_newline_is_refused() -> None:
    """Regression: the name pattern once ended in '$', which also matches before a newline."""
    with pytest.raises(UsageError):
        check_key_name("backup\n")
