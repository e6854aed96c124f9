"""The `dbseal` command run as a user would: keygen, seal, unseal, inspect, keys, and its errors."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.clikit import DBSEAL, KeyPair, Runner, clean_env, private_file
from dbseal.crypto.keyring import Keyring, KeyringRecipient
from dbseal.crypto.passphrase import KdfParams, PassphraseRecipient
from dbseal.crypto.secret import Secret
from dbseal.crypto.x25519 import X25519Identity
from dbseal.format.stanza import Stanza
from unit.sealkit import FAST_KDF, random_bytes, reforge, seal_bytes, seal_custom, sql_text

PLAIN = sql_text(300_000, seed=11) + random_bytes(20_000, seed=11)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- keygen ---------------------------------------------------------------------------------------


def test_keygen_writes_a_private_identity_and_prints_its_recipient(
    dbseal: Runner, tmp_path: Path
) -> None:
    res = dbseal("keygen", "-o", "me.key")
    assert res.rc == 0, res.stderr
    recipient = res.out.strip()
    assert re.fullmatch(r"age1[02-9ac-hj-np-z]{58}", recipient)
    key = tmp_path / "me.key"
    assert _mode(key) == 0o600
    text = key.read_text()
    assert f"# public key: {recipient}\n" in text
    assert re.search(r"^AGE-SECRET-KEY-1[0-9A-Z]{58}$", text, re.M)
    assert "AGE-SECRET-KEY" not in res.out + res.stderr


def test_keygen_refuses_to_overwrite_a_key(dbseal: Runner, tmp_path: Path) -> None:
    assert dbseal("keygen", "-o", "me.key").rc == 0
    before = (tmp_path / "me.key").read_bytes()
    dbseal("keygen", "-o", "me.key").assert_error(9)
    assert (tmp_path / "me.key").read_bytes() == before


def test_keygen_without_output_prints_the_identity(dbseal: Runner) -> None:
    res = dbseal("keygen")
    assert res.rc == 0
    [ident] = [ln for ln in res.out.splitlines() if not ln.startswith("#")]
    assert X25519Identity.parse(ident).recipient().encode() in res.out


def test_console_script_is_installed_and_runs(tmp_path: Path) -> None:
    script = Path(DBSEAL[0]).with_name("dbseal")
    res = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=clean_env()
    )
    assert res.returncode == 0
    assert res.stdout.startswith("dbseal ")


# --- seal / unseal ----------------------------------------------------------------------------------


def test_seal_and_unseal_through_pipes(dbseal: Runner, keypair: KeyPair) -> None:
    sealed = dbseal("seal", "-r", keypair.recipient, stdin=PLAIN)
    assert sealed.rc == 0, sealed.stderr
    assert sealed.stdout.startswith(b"DBSEAL\x00\x01")
    assert b"INSERT INTO" not in sealed.stdout
    opened = dbseal("unseal", "-i", keypair.identity_file, stdin=sealed.stdout)
    assert opened.rc == 0, opened.stderr
    assert opened.stdout == PLAIN
    assert opened.stderr == ""


def test_seal_and_unseal_files(dbseal: Runner, keypair: KeyPair, tmp_path: Path) -> None:
    (tmp_path / "dump.sql").write_bytes(PLAIN)
    res = dbseal("seal", "-r", keypair.recipient, "-o", "dump.dbseal", "dump.sql")
    assert (res.rc, res.stdout, res.stderr) == (0, b"", "")
    assert _mode(tmp_path / "dump.dbseal") == 0o600

    res = dbseal("unseal", "-i", keypair.identity_file, "-o", "restored.sql", "dump.dbseal")
    assert (res.rc, res.stdout, res.stderr) == (0, b"", "")
    assert (tmp_path / "restored.sql").read_bytes() == PLAIN
    assert _mode(tmp_path / "restored.sql") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dump.dbseal",
        "dump.sql",
        "id.txt",
        "restored.sql",
    ]


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip", "none"])
def test_every_compression_round_trips_and_is_shown_by_inspect(
    dbseal: Runner, keypair: KeyPair, codec: str, tmp_path: Path
) -> None:
    sealed = dbseal("seal", "-r", keypair.recipient, "--compress", codec, "-o", "f", stdin=PLAIN)
    assert sealed.rc == 0, sealed.stderr
    if codec != "none":
        assert (tmp_path / "f").stat().st_size < len(PLAIN)
    info = json.loads(dbseal("inspect", "--json", "f").stdout)
    assert (info["compression"], info["integrity"]) == (codec, "ok")
    opened = dbseal("unseal", "-i", keypair.identity_file, stdin=(tmp_path / "f").read_bytes())
    assert opened.stdout == PLAIN


def test_recipients_file_and_several_recipients(dbseal: Runner, tmp_path: Path) -> None:
    a, b = X25519Identity.generate(), X25519Identity.generate()
    (tmp_path / "team.txt").write_text(f"# ops team\n{a.recipient().encode()}\n")
    ida = private_file(tmp_path / "a.key", a.identity_file_text())
    idb = private_file(tmp_path / "b.key", b.identity_file_text())
    sealed = dbseal("seal", "-R", "team.txt", "-r", b.recipient().encode(), stdin=b"for both")
    assert sealed.rc == 0, sealed.stderr
    for ident in (ida, idb):
        assert dbseal("unseal", "-i", ident, stdin=sealed.stdout).stdout == b"for both"


def test_labels_are_recorded(dbseal: Runner, keypair: KeyPair, tmp_path: Path) -> None:
    res = dbseal(
        "seal", "-r", keypair.recipient, "--label", "db=shop", "--label", "note=a=b", "-o", "f"
    )
    assert res.rc == 0, res.stderr
    info = json.loads(dbseal("inspect", "--json", "f").stdout)
    assert info["label"]["db"] == "shop"
    assert info["label"]["note"] == "a=b"


def test_unseal_failure_leaves_an_existing_output_untouched_and_no_temp_file(
    dbseal: Runner, keypair: KeyPair, tmp_path: Path
) -> None:
    sealed = dbseal("seal", "-r", keypair.recipient, stdin=PLAIN).stdout
    (tmp_path / "bad.dbseal").write_bytes(sealed[: len(sealed) // 2])
    (tmp_path / "restored.sql").write_bytes(b"yesterday's good restore")
    before = sorted(p.name for p in tmp_path.iterdir())

    dbseal("unseal", "-i", keypair.identity_file, "-o", "restored.sql", "bad.dbseal").assert_error(
        7
    )

    assert (tmp_path / "restored.sql").read_bytes() == b"yesterday's good restore"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_seal_refuses_to_write_binary_to_a_terminal(keypair: KeyPair, tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [*DBSEAL, "seal", "-r", keypair.recipient],
            input=b"data",
            stdout=follower,
            stderr=subprocess.PIPE,
            env=clean_env(),
            cwd=tmp_path,
            timeout=30,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("dbseal: error: refusing to write sealed binary")


def test_reader_going_away_is_one_error_line(
    identity: X25519Identity, identity_file: Path, tmp_path: Path
) -> None:
    sealed = tmp_path / "big.dbseal"
    sealed.write_bytes(seal_bytes(random_bytes(4 << 20, seed=5), [identity.recipient()], "none"))
    proc = subprocess.Popen(
        [*DBSEAL, "unseal", "-i", str(identity_file), str(sealed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()  # like `dbseal unseal ... | head -c 10`
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 9
    [line] = stderr.splitlines()
    assert line.startswith("dbseal: error:") and "hint:" in line


# --- inspect ------------------------------------------------------------------------------------------


def test_inspect_needs_no_key(dbseal: Runner, keypair: KeyPair, tmp_path: Path) -> None:
    sealed = dbseal("seal", "-r", keypair.recipient, "--compress", "gzip:9", stdin=PLAIN).stdout
    (tmp_path / "f.dbseal").write_bytes(sealed)
    keypair.identity_file.unlink()  # nothing secret around

    res = dbseal("inspect", "f.dbseal")
    assert res.rc == 0, res.stderr
    assert keypair.recipient in res.out
    assert re.search(r"^compression:\s+gzip \(level 9\)$", res.out, re.M)
    assert re.search(r"^integrity:\s+ok\b", res.out, re.M)

    res = dbseal("inspect", "--json", "f.dbseal")
    assert res.rc == 0
    info = json.loads(res.stdout)
    assert info["integrity"] == "ok"
    assert info["compression"] == "gzip"
    assert info["stanzas"] == [{"type": "x25519", "recipient": keypair.recipient}]
    assert info["file_bytes"] == len(sealed)
    assert info["sha256"] == hashlib.sha256(sealed[:-48]).hexdigest()


def test_inspect_lists_every_kind_of_recipient(dbseal: Runner, tmp_path: Path) -> None:
    x = X25519Identity.generate()
    ring = Keyring.init(str(tmp_path / "ring"), Secret(b"pw"), "nightly", FAST_KDF)
    recipients = [
        x.recipient(),
        PassphraseRecipient(Secret(b"pw"), FAST_KDF),
        KeyringRecipient(ring, "nightly"),
    ]
    (tmp_path / "f.dbseal").write_bytes(seal_bytes(b"x", recipients))
    info = json.loads(dbseal("inspect", "--json", "f.dbseal").stdout)
    assert info["stanzas"] == [
        {"type": "x25519", "recipient": x.recipient().encode()},
        {"type": "argon2id", "memory_kib": 19456, "iterations": 2, "lanes": 1},
        {"type": "keyring", "keyring_id": ring.keyring_id.hex(), "key": "nightly", "version": 1},
    ]


def test_inspect_of_a_truncated_file_exits_7(
    dbseal: Runner, keypair: KeyPair, tmp_path: Path
) -> None:
    sealed = dbseal("seal", "-r", keypair.recipient, stdin=PLAIN).stdout
    (tmp_path / "cut.dbseal").write_bytes(sealed[:-100])
    res = dbseal("inspect", "cut.dbseal")
    res.assert_error(7)
    assert re.search(r"^integrity:\s+FAILED", res.out, re.M)
    (tmp_path / "cut-header.dbseal").write_bytes(sealed[:40])
    dbseal("inspect", "cut-header.dbseal").assert_error(7)


def test_inspect_never_prints_terminal_control_characters(dbseal: Runner, tmp_path: Path) -> None:
    name = b"\x1b[2J\x1b]0;owned\x07evil"
    forged = seal_custom(
        b"x", lambda dk, fid: [Stanza("keyring", (bytes(16), name, bytes(4), bytes(16)), bytes(48))]
    )
    (tmp_path / "f.dbseal").write_bytes(forged)
    res = dbseal("inspect", "f.dbseal")
    assert res.rc == 0
    assert "keyring" in res.out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", res.out), repr(res.out)


# --- errors: exit code and exactly one line with a hint ---------------------------------------------


@dataclass(frozen=True)
class Ctx:
    dir: Path
    ident: X25519Identity
    id_file: Path
    good: Path  # a sealed file that id_file opens

    def file(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path


Args = tuple[list[str | Path], bytes | None]


def _flip(data: bytes, pos: int) -> bytes:
    b = bytearray(data)
    b[pos] ^= 0x10
    return bytes(b)


def _unseal(c: Ctx, path: Path, *extra: str | Path) -> Args:
    return ["unseal", "-i", c.id_file, *extra, "-o", "out.sql", path], None


def _pw(c: Ctx) -> Path:
    return private_file(c.dir / "pw.txt", "a passphrase\n")


SCENARIOS: dict[str, tuple[int, Callable[[Ctx], Args]]] = {
    "not-dbseal": (3, lambda c: _unseal(c, c.file("dump.sql", PLAIN))),
    "empty-stdin": (3, lambda c: (["unseal", "-i", c.id_file], b"")),
    "version-2": (
        4,
        lambda c: _unseal(
            c, c.file("v2", c.good.read_bytes()[:7] + b"\x02" + c.good.read_bytes()[8:])
        ),
    ),
    "unknown-codec": (
        4,
        lambda c: _unseal(c, c.file("cx", reforge(c.good.read_bytes(), codec=77))),
    ),
    "wrong-key": (
        5,
        lambda c: (
            [
                "unseal",
                "-i",
                private_file(c.dir / "other.key", X25519Identity.generate().identity_file_text()),
                c.good,
            ],
            None,
        ),
    ),
    "no-key-given": (5, lambda c: (["unseal", c.good], None)),
    "header-tampered": (
        6,
        lambda c: _unseal(c, c.file("t", reforge(c.good.read_bytes(), label={"tool": "evil"}))),
    ),
    "payload-flipped": (6, lambda c: _unseal(c, c.file("p", _flip(c.good.read_bytes(), -200)))),
    "trailer-flipped": (6, lambda c: _unseal(c, c.file("r", _flip(c.good.read_bytes(), -1)))),
    "truncated": (7, lambda c: _unseal(c, c.file("cut", c.good.read_bytes()[:-100]))),
    # a cut inside the trailer leaves a complete payload: a damaged trailer (format.md 4.3)
    "trailer-cut": (6, lambda c: _unseal(c, c.file("cut1", c.good.read_bytes()[:-1]))),
    "missing-input": (8, lambda c: _unseal(c, c.dir / "no-such.dbseal")),
    "output-dir-missing": (
        9,
        lambda c: (["unseal", "-i", c.id_file, "-o", c.dir / "nodir" / "out.sql", c.good], None),
    ),
    "identity-file-0644": (
        10,
        lambda c: (["unseal", "-i", _chmod(c.id_file, 0o644), c.good], None),
    ),
    "passphrase-file-0644": (
        10,
        lambda c: (["seal", "--passphrase-file", _chmod(_pw(c), 0o644)], b"data"),
    ),
    "passphrase-command-fails": (
        10,
        lambda c: (["seal", "--passphrase-command", "exit 1"], b"data"),
    ),
    "invalid-recipient": (11, lambda c: (["seal", "-r", "age1notarealkey"], b"data")),
    "identity-file-garbage": (
        11,
        lambda c: (["unseal", "-i", private_file(c.dir / "junk.key", "hello\n"), c.good], None),
    ),
    "unsafe-kdf": (
        12,
        lambda c: (
            ["unseal", "--passphrase-file", _pw(c), c.file("u", _unsafe_kdf_file())],
            None,
        ),
    ),
    "no-keyring": (
        13,
        lambda c: (
            ["keys", "list", "--keyring", "nowhere", "--keyring-passphrase-file", _pw(c)],
            None,
        ),
    ),
    "no-recipient": (2, lambda c: (["seal"], b"data")),
    "unknown-compression": (
        2,
        lambda c: (["seal", "-r", c.ident.recipient().encode(), "--compress", "brotli"], b"d"),
    ),
    "bad-compression-level": (
        2,
        lambda c: (["seal", "-r", c.ident.recipient().encode(), "--compress", "zstd:99"], b"d"),
    ),
    "two-passphrase-sources": (
        2,
        lambda c: (["seal", "--passphrase-file", _pw(c), "--passphrase-command", "echo x"], b"d"),
    ),
    "keyring-without-key": (2, lambda c: (["seal", "--keyring", c.dir], b"d")),
    "keys-without-keyring": (2, lambda c: (["keys", "list"], None)),
    "unknown-command": (2, lambda c: (["frobnicate"], None)),
    "unknown-option": (2, lambda c: (["seal", "--no-such-option"], None)),
    "label-without-equals": (
        2,
        lambda c: (["seal", "-r", c.ident.recipient().encode(), "--label", "nightly"], b"d"),
    ),
    "label-too-long": (
        2,
        lambda c: (
            ["seal", "-r", c.ident.recipient().encode(), "--label", "k=" + "a" * 70_000],
            b"d",
        ),
    ),
    "too-many-recipients": (
        2,
        lambda c: (
            [
                "seal",
                "-R",
                c.file("many.txt", (c.ident.recipient().encode() + "\n").encode() * 256),
            ],
            b"d",
        ),
    ),
}


def _chmod(path: Path, mode: int) -> Path:
    path.chmod(mode)
    return path


def _unsafe_kdf_file() -> bytes:
    params = KdfParams((1 << 21) + 1, 3, 4).encode()  # just over 2 GiB
    return seal_custom(b"x", lambda dk, fid: [Stanza("argon2id", (bytes(16), params), bytes(48))])


@pytest.fixture
def ctx(tmp_path: Path, identity: X25519Identity, identity_file: Path) -> Ctx:
    good = tmp_path / "good.dbseal"
    good.write_bytes(seal_bytes(PLAIN, [identity.recipient()], "zstd"))
    return Ctx(tmp_path, identity, identity_file, good)


def _check_error(dbseal: Runner, ctx: Ctx, code: int, build: Callable[[Ctx], Args]) -> None:
    args, stdin = build(ctx)
    before = sorted(p.name for p in ctx.dir.iterdir())
    res = dbseal(*args, stdin=stdin)
    res.assert_error(code)
    assert res.stdout == b""
    assert sorted(p.name for p in ctx.dir.iterdir()) == before, "nothing may be left behind"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_error_exit_code_and_one_line_with_a_hint(dbseal: Runner, ctx: Ctx, name: str) -> None:
    code, build = SCENARIOS[name]
    _check_error(dbseal, ctx, code, build)


# --- passphrases never appear in output ------------------------------------------------------------


def test_passphrase_never_appears_in_output(dbseal: Runner, tmp_path: Path) -> None:
    secret = "Tr0ub4dor&3-never-print-me"
    good = private_file(tmp_path / "pw.txt", secret + "\n")
    wrong = private_file(tmp_path / "wrong.txt", secret + "X\n")
    results = []

    sealed = dbseal("seal", "--passphrase-file", good, "-o", "f.dbseal", stdin=b"rows")
    results.append(sealed)
    assert sealed.rc == 0, sealed.stderr

    results.append(dbseal("unseal", "--passphrase-file", wrong, "f.dbseal"))
    results[-1].assert_error(5)

    opened = dbseal("unseal", "--passphrase-file", good, "f.dbseal")
    assert (opened.rc, opened.stdout) == (0, b"rows")
    results.append(opened)

    good.chmod(0o644)
    results.append(dbseal("unseal", "--passphrase-file", good, "f.dbseal"))
    results[-1].assert_error(10)

    results.append(dbseal("unseal", "--passphrase-command", f"echo '{secret}'; exit 4", "f.dbseal"))
    results[-1].assert_error(10)

    results.append(dbseal("inspect", "f.dbseal"))
    for res in results:
        assert secret not in res.out and secret not in res.stderr, res.args


def test_passphrase_from_a_descriptor(dbseal: Runner, tmp_path: Path) -> None:
    private_file(tmp_path / "pw.txt", "via a pipe\n")
    r, w = os.pipe()
    os.write(w, b"via a pipe\n")
    os.close(w)
    try:
        sealed = dbseal("seal", "--passphrase-fd", str(r), "-o", "f", stdin=b"x", pass_fds=(r,))
    finally:
        os.close(r)
    assert sealed.rc == 0, sealed.stderr
    assert dbseal("unseal", "--passphrase-file", "pw.txt", "f").stdout == b"x"


# --- keyring ----------------------------------------------------------------------------------------


def test_keys_init_list_seal_unseal(dbseal: Runner, tmp_path: Path) -> None:
    pw = private_file(tmp_path / "ring-pw.txt", "keyring passphrase\n")
    ring = tmp_path / "ring"
    res = dbseal(
        "keys", "init", "--keyring", ring, "--keyring-passphrase-file", pw, "--key", "nightly"
    )
    assert res.rc == 0, res.stderr
    assert "nightly:1" in res.out
    assert _mode(ring) == 0o700
    assert _mode(ring / "keyring.json") == 0o600

    listed = dbseal("keys", "list", "--keyring", ring, "--keyring-passphrase-file", pw)
    assert listed.rc == 0, listed.stderr
    assert re.search(r"^\s+nightly:1\s+active\b", listed.out, re.M)

    as_json = dbseal(
        "keys",
        "list",
        "--json",
        env={"DBSEAL_KEYRING": str(ring), "DBSEAL_KEYRING_PASSPHRASE_FILE": str(pw)},
    )
    assert as_json.rc == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [(k["key"], k["version"], k["state"]) for k in data["keys"]] == [
        ("nightly", 1, "active")
    ]
    kek = Keyring.open(str(ring), Secret(b"keyring passphrase")).get("nightly").kek.hex()
    assert kek not in listed.out + as_json.out

    keyring_args = ["--keyring", ring, "--keyring-passphrase-file", pw]
    sealed = dbseal("seal", *keyring_args, "--key", "nightly", "-o", "f", stdin=PLAIN)
    assert sealed.rc == 0, sealed.stderr
    assert dbseal("unseal", *keyring_args, "f").stdout == PLAIN

    wrong = private_file(tmp_path / "wrong.txt", "not it\n")
    dbseal("keys", "list", "--keyring", ring, "--keyring-passphrase-file", wrong).assert_error(5)
    dbseal("keys", "init", "--keyring", ring, "--keyring-passphrase-file", pw).assert_error(13)
