"""`dbseal verify` as a user runs it: real backups of a real database, real damage.

Backups are taken with `dbseal backup` from the session `mariadb` server into a
repository made with `dbseal init -r age1...` (a `dbseal keygen` key). Every `dbseal`
runs as a separate process. Nothing is mocked: the damage is done to the files of the
repository (a flipped byte, a truncated object, a deleted key envelope, a swapped data
object), and the "insider" cases re-seal an altered dump with the backup's own data key
through the library (:func:`reseal`), exactly what someone holding that key could do.

What is checked: the exit codes (0 ok, 30 damaged/inconsistent backup, 5 no key opens
it, 31 restored data differs, 32 the check could not run), what each level catches and
what it cannot, the per-table report, the append-only verification records (MAC'd for
the keyed levels), and that the restore level never leaves a server or a directory
behind, also when the server cannot start or verify is interrupted.

The restore-level runs get a private TMPDIR, so "nothing left behind" is checked
exactly (that directory must end up empty, no process may name it) and is not disturbed
by other test runs on the machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.clikit import DBSEAL, clean_env, private_file
from conftest import CliResult, DbsealUser, databases_on, fetch, run_sql
from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import (
    Repository,
    data_handle,
    envelope_handle,
    manifest_handle,
)
from dbseal.codecs import parse_codec
from dbseal.crypto.x25519 import X25519Recipient, parse_identity_file
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.format.envelope import for_header, parse_envelope
from dbseal.format.header import derive_subkeys, read_header
from dbseal.ops.restore import unlock_backup
from dbseal.ops.seal import open_sealed_with_key, seal_stream
from dbseal.storage import open_backend

pytestmark = pytest.mark.mariadb

N_CUSTOMERS = 40
N_ORDERS = 120


# --------------------------------------------------------------------------- helpers


def run(
    user: DbsealUser,
    *args: object,
    env: dict[str, str] | None = None,
    stdin_closed: bool = False,
    timeout: float = 120,
) -> CliResult:
    """`dbseal ARGS` as a separate process; ``stdin_closed`` runs it with fd 0 closed."""
    argv = [*DBSEAL, *(str(a) for a in args)]
    if stdin_closed:  # `<&-`: no standard input at all, not even /dev/null
        argv = ["sh", "-c", 'exec "$@" <&-', "sh", *argv]
    proc = subprocess.run(
        argv,
        stdin=None if stdin_closed else subprocess.DEVNULL,
        capture_output=True,
        cwd=user.home,
        env=clean_env(**(env or {})),
        timeout=timeout,
        check=False,
    )
    return CliResult(
        tuple(str(a) for a in args),
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def verify(
    user: DbsealUser,
    repo: Path,
    *refs: str,
    level: str,
    key: Path | None = None,
    extra: tuple[object, ...] = (),
    env: dict[str, str] | None = None,
    stdin_closed: bool = False,
) -> CliResult:
    keyargs: list[object] = ["-i", key] if key is not None else []
    return run(
        user,
        "verify", "--repo", repo, *refs, "--level", level, *keyargs, *extra,
        env=env,
        stdin_closed=stdin_closed,
    )  # fmt: skip


def passed(res: CliResult) -> CliResult:
    """Exit 0; on failure show the report (verify explains itself on stdout)."""
    assert res.rc == 0, f"dbseal {' '.join(res.args)}: exit {res.rc}: {res.stdout}{res.stderr}"
    return res


def verify_json(res: CliResult, code: int) -> list[dict[str, Any]]:
    assert res.rc == code, f"dbseal {' '.join(res.args)}: exit {res.rc}: {res.stdout}{res.stderr}"
    assert "Traceback" not in res.stderr
    doc = json.loads(res.stdout)
    assert isinstance(doc, list)
    return doc


def history(user: DbsealUser, repo: Path, bid: str) -> list[dict[str, Any]]:
    """The verification records of ``bid`` as `dbseal show --json` (keyed) reports them."""
    return list(user.show(repo, bid)["verifications"])


def last_verification(user: DbsealUser, repo: Path, bid: str) -> dict[str, Any]:
    rows = {b["id"]: b for b in user.listing(repo)["backups"]}
    v = rows[bid]["verification"]
    assert v is not None, f"no verification recorded for {bid}"
    return dict(v)


def record_files(repo: Path, bid: str) -> list[Path]:
    return sorted((repo / "verifications" / bid).glob("*.json"))


def data_path(repo: Path, bid: str) -> Path:
    return repo / "data" / f"{bid}.dbseal"


def short_tmpdir() -> Path:
    """A private TMPDIR short enough for the sandbox's unix socket path."""
    return Path(tempfile.mkdtemp(prefix="dbsv-", dir="/tmp"))


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def _alive(pid: int) -> bool:
    """True for a live process (a zombie is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_naming(text: str) -> list[tuple[int, list[str]]]:
    """Live processes whose command line mentions ``text`` (our private TMPDIR)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            argv = _cmdline(int(entry.name))
            if any(text in a for a in argv) and _alive(int(entry.name)):
                out.append((int(entry.name), argv))
    return out


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def leftovers(tmpdir: Path) -> list[str]:
    """What the restore level left in our private TMPDIR: processes naming it, its entries."""
    left = [f"process {pid} {' '.join(argv[:2])}" for pid, argv in processes_naming(str(tmpdir))]
    with contextlib.suppress(FileNotFoundError):
        left += [f"directory entry {p}" for p in tmpdir.iterdir()]
    return left


def sweep(tmpdir: Path) -> list[str]:
    """Remove what a failed case left behind (only processes naming our private TMPDIR)."""
    left = leftovers(tmpdir)
    for pid, _ in processes_naming(str(tmpdir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while processes_naming(str(tmpdir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(tmpdir, ignore_errors=True)
    return left


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def vuser(tmp_path_factory: pytest.TempPathFactory) -> DbsealUser:
    return DbsealUser(tmp_path_factory.mktemp("verify") / "home")


@pytest.fixture(scope="module")
def shop(mariadb: MariaDBSandbox) -> Iterator[str]:
    """A small database: two tables (customers, orders), a view, a trigger, a procedure."""
    db = f"dbsv_shop_{uuid.uuid4().hex[:8]}"
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4",
        f"CREATE TABLE `{db}`.customers (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80))",
        f"INSERT INTO `{db}`.customers SELECT seq, CONCAT('customer-', LPAD(seq, 3, '0')), "
        f"CONCAT('c', seq, '@example.org') FROM `{db}`.seq_1_to_{N_CUSTOMERS}",
        f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, customer_id INT, "
        "amount DECIMAL(10, 2), note VARCHAR(40))",
        f"INSERT INTO `{db}`.orders SELECT seq, 1 + seq % {N_CUSTOMERS}, seq * 1.25, "
        f"CONCAT('order #', seq) FROM `{db}`.seq_1_to_{N_ORDERS}",
        f"CREATE VIEW `{db}`.big_orders AS SELECT id, amount FROM `{db}`.orders WHERE amount > 100",
        f"CREATE TRIGGER `{db}`.orders_bi BEFORE INSERT ON `{db}`.orders "
        "FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'none')",
        f"CREATE PROCEDURE `{db}`.order_count() SELECT COUNT(*) FROM orders",
    )
    yield db
    run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`")


@pytest.fixture(scope="module")
def base_repo(vuser: DbsealUser, mariadb: MariaDBSandbox, shop: str) -> tuple[Path, list[str]]:
    """A repository with three good backups of ``shop`` (oldest first). Tests use copies."""
    repo = vuser.init("base-repo")
    ids = [vuser.good_backup(repo, mariadb, shop) for _ in range(3)]
    return repo, ids


@pytest.fixture
def repo(base_repo: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """A private copy of the base repository (the test may damage it)."""
    dest = tmp_path / "repo"
    shutil.copytree(base_repo[0], dest)
    return dest


@pytest.fixture
def ids(base_repo: tuple[Path, list[str]]) -> list[str]:
    return base_repo[1]


@pytest.fixture
def sandbox_tmp() -> Iterator[Path]:
    """A private TMPDIR for restore-level runs; it must end up empty, with no process naming
    it (checked exactly, whatever other tests on the machine are doing)."""
    tmp = short_tmpdir()
    yield tmp
    left = sweep(tmp)
    assert not left, f"the restore level left things behind: {left}"


def in_tmp(tmp: Path, **extra: str) -> dict[str, str]:
    return {"TMPDIR": str(tmp), **extra}


@pytest.fixture
def other_key(tmp_path: Path) -> Path:
    """A second `dbseal keygen` identity, for nothing in the repository."""
    path = tmp_path / "other.key"
    subprocess.run([*DBSEAL, "keygen", "-o", str(path)], check=True, capture_output=True)
    return path


# --------------------------------------------------------------------------- 1. good


def test_a_good_backup_verifies_at_every_level_and_each_run_is_recorded(
    vuser: DbsealUser, repo: Path, ids: list[str], shop: str, sandbox_tmp: Path
) -> None:
    bid = ids[-1]  # `latest`
    key = vuser.identity

    first = verify_json(verify(vuser, repo, level="integrity", extra=("--json",)), 0)
    assert [(v["backup_id"], v["level"], v["result"]) for v in first] == [(bid, "integrity", "ok")]
    (first_record,) = record_files(repo, bid)
    first_bytes = first_record.read_bytes()
    again = passed(verify(vuser, repo, bid, level="integrity"))
    assert re.match(rf"{bid}\s+integrity\s+OK\s", again.stdout), again.stdout
    dec = verify_json(verify(vuser, repo, bid, level="decrypt", key=key, extra=("--json",)), 0)
    assert dec[0]["level"] == "decrypt" and dec[0]["result"] == "ok" and dec[0]["exit_code"] == 0

    rst = passed(verify(vuser, repo, bid, level="restore", key=key, env=in_tmp(sandbox_tmp)))
    assert leftovers(sandbox_tmp) == []  # the throwaway server is gone
    lines = rst.stdout.splitlines()
    assert re.match(rf"{bid}\s+restore\s+OK\s.*\(restore \d+\.\d+ s\)", lines[0]), rst.stdout
    assert (
        f"    {shop}.customers: {N_CUSTOMERS} rows (expected {N_CUSTOMERS}, checksum =) ok" in lines
    )
    assert f"    {shop}.orders: {N_ORDERS} rows (expected {N_ORDERS}, checksum =) ok" in lines
    assert "problem" not in rst.stdout

    # `list` shows the last verification; `show` the whole history, oldest first
    last = last_verification(vuser, repo, bid)
    assert (last["level"], last["result"]) == ("restore", "ok")
    assert isinstance(last["restore_s"], float) and last["restore_s"] > 0
    hist = history(vuser, repo, bid)
    assert [(h["level"], h["result"]) for h in hist] == [
        ("integrity", "ok"),
        ("integrity", "ok"),
        ("decrypt", "ok"),
        ("restore", "ok"),
    ]
    records = record_files(repo, bid)
    assert len(records) == 4 and records[0] == first_record  # one new file per run
    assert first_record.read_bytes() == first_bytes  # earlier records are never rewritten
    for other in ids[:-1]:
        assert history(vuser, repo, other) == []

    # keyless records say so; keyed records carry a MAC under the backup's manifest key
    backup = Repository.open(open_backend(str(repo)))
    data_key = unlock_backup(backup, bid, parse_identity_file(key.read_text(), str(key)))
    mac_key = mf.manifest_key(data_key, bytes.fromhex(backup.manifest(bid)["file_id"]))
    for h in hist:
        if h["level"] == "integrity":
            assert h["authenticated"] is False and "mac" not in h
        else:
            assert h["authenticated"] is True
            mf.verify(h, mac_key, "verification record")  # raises if the MAC is wrong
    restored = {t["table"]: t for t in hist[-1]["tables"]}
    assert set(restored) == {"customers", "orders"}
    for name, rows in (("customers", N_CUSTOMERS), ("orders", N_ORDERS)):
        t = restored[name]
        assert (t["database"], t["expected_rows"], t["found_rows"], t["ok"]) == (
            shop,
            rows,
            rows,
            True,
        )
        assert t["method"] == "dump-sha256" and t["expected_checksum"] == t["found_checksum"]
    assert hist[-1]["restore_s"] > 0 and hist[-1]["problems"] == []

    # a record edited afterwards no longer authenticates
    forged = dict(hist[2], result="ok", duration_s=0.001)
    with pytest.raises(Exception, match="failed authentication"):
        mf.verify(forged, mac_key, "verification record")


def test_integrity_level_needs_no_key_and_never_prompts(
    vuser: DbsealUser, repo: Path, ids: list[str]
) -> None:
    res = verify(vuser, repo, "--all", level="integrity", stdin_closed=True)
    assert res.rc == 0, res.stdout + res.stderr
    assert res.stderr == ""  # no prompt, no warning about a missing key
    assert "3 of 3 backups verified at level integrity" in res.stdout
    # the keyed level without any key: "no key opens it" (5), at once, without prompting
    res = verify(vuser, repo, ids[0], level="decrypt", stdin_closed=True)
    assert res.rc == 5, res.stdout + res.stderr
    assert "none of the given identities" in res.stdout and "passphrase:" not in res.stderr.lower()


# --------------------------------------------------------------------------- 2. damage


def flip_byte(repo: Path, ids: list[str]) -> str:
    path = data_path(repo, ids[0])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return "SHA-256"


def truncate(repo: Path, ids: list[str]) -> str:
    path = data_path(repo, ids[0])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return "truncat"


def delete_envelope(repo: Path, ids: list[str]) -> str:
    (repo / "envelopes" / f"{ids[0]}.env").unlink()
    return "not found"


def swap_data(repo: Path, ids: list[str]) -> str:
    shutil.copyfile(data_path(repo, ids[1]), data_path(repo, ids[0]))
    return "another backup"


DAMAGE: dict[str, Callable[[Path, list[str]], str]] = {
    "flipped-byte": flip_byte,
    "truncated": truncate,
    "no-key-envelope": delete_envelope,
    "swapped-data-object": swap_data,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_integrity_and_decrypt_levels_catch_a_damaged_backup(
    vuser: DbsealUser, repo: Path, ids: list[str], damage: str
) -> None:
    words = DAMAGE[damage](repo, ids)
    bad, good = ids[0], ids[1]

    keyless = verify(vuser, repo, bad, level="integrity", stdin_closed=True)
    assert keyless.rc == 30, keyless.stdout + keyless.stderr
    assert re.match(rf"{bad}\s+integrity\s+FAILED", keyless.stdout), keyless.stdout
    assert words.lower() in keyless.stdout.lower(), keyless.stdout
    assert keyless.stderr == ""

    keyed = verify_json(
        verify(vuser, repo, bad, level="decrypt", key=vuser.identity, extra=("--json",)), 30
    )
    assert keyed[0]["result"] == "failed" and keyed[0]["error_class"] == "IntegrityFailure"
    assert keyed[0]["exit_code"] == 30

    hist = history(vuser, repo, good)  # the other backup is untouched (swap copied it)
    assert hist == []
    rows = {b["id"]: b for b in vuser.listing(repo)["backups"]}
    assert rows[bad]["verification"]["level"] == "decrypt"
    assert rows[bad]["verification"]["result"] == "failed"
    records = [json.loads(p.read_text()) for p in record_files(repo, bad)]
    assert [(r["level"], r["result"], r["exit_code"]) for r in records] == [
        ("integrity", "failed", 30),
        ("decrypt", "failed", 30),
    ]
    assert all(r["problems"] for r in records)


def test_decrypt_level_catches_a_manifest_edited_without_the_key(
    vuser: DbsealUser, repo: Path, ids: list[str]
) -> None:
    bid = ids[0]
    path = repo / "manifests" / f"{bid}.json"
    doc = json.loads(path.read_text())
    doc["tables"][0]["rows"] += 1  # e.g. to hide a lost row from a later restore check
    path.write_text(json.dumps(doc))
    # integrity cannot tell (documented: the manifest's MAC needs the key)
    passed(verify(vuser, repo, bid, level="integrity"))
    res = verify_json(
        verify(vuser, repo, bid, level="decrypt", key=vuser.identity, extra=("--json",)), 30
    )
    assert res[0]["error_class"] == "IntegrityFailure"
    assert "failed authentication" in res[0]["problems"][0]


# --------------------------------------------------------------------------- 3. keys


def test_decrypt_level_with_the_wrong_identity_exits_5(
    vuser: DbsealUser, repo: Path, ids: list[str], other_key: Path
) -> None:
    res = verify_json(
        verify(vuser, repo, ids[0], level="decrypt", key=other_key, extra=("--json",)), 5
    )
    assert res[0]["result"] == "error" and res[0]["error_class"] == "NoMatchingKey"
    assert "none of the given identities" in res[0]["problems"][0]
    human = verify(vuser, repo, ids[0], level="decrypt", key=other_key)
    assert human.rc == 5 and "ERROR" in human.stdout and "not recorded" in human.stdout
    assert record_files(repo, ids[0]) == [], "a wrong key is the operator's, not the backup's"


def test_decrypt_level_with_the_wrong_passphrase_exits_5(
    vuser: DbsealUser, mariadb: MariaDBSandbox, shop: str, tmp_path: Path
) -> None:
    repo = tmp_path / "pp-repo"
    run(vuser, "init", repo, "--require-passphrase").ok()
    right = private_file(tmp_path / "right.pass", "correct horse battery staple\n")
    wrong = private_file(tmp_path / "wrong.pass", "correct horse battery stapler\n")
    res = vuser.backup(repo, mariadb, shop, extra=("--passphrase-file", right)).ok()
    bid = res.stdout.split()[1]

    def pp(passfile: Path, code: int) -> dict[str, Any]:
        out = run(
            vuser, "verify", "--repo", repo, bid, "--level", "decrypt",
            "--passphrase-file", passfile, "--json", stdin_closed=True,
        )  # fmt: skip
        return verify_json(out, code)[0]

    bad = pp(wrong, 5)
    assert (bad["error_class"], bad["recorded"]) == ("NoMatchingKey", False)
    good = pp(right, 0)
    assert good["result"] == "ok"
    hist = [json.loads(p.read_text()) for p in record_files(repo, bid)]
    assert [(h["result"], h["authenticated"]) for h in hist] == [("ok", True)]


# --------------------------------------------------------------------------- 4. insider


def reseal(repo_dir: Path, bid: str, identity: Path, transform: Callable[[bytes], bytes]) -> None:
    """Re-seal backup ``bid`` with ``transform(plaintext)`` under its own data key.

    What an insider holding the key can do: decrypt, alter the dump, encrypt it again
    with the same data key and file id, write a key envelope for the new header (same
    stanzas, MAC'd with the header key), and rewrite and re-sign the manifest's sizes
    and hashes. The result is consistent at the integrity and decrypt levels.
    """
    repo = Repository.open(open_backend(str(repo_dir)))
    manifest = repo.manifest(bid)
    identities = parse_identity_file(identity.read_text(), str(identity))
    old_envelope = repo.backend.get(envelope_handle(bid))
    with repo.backend.open(data_handle(bid)) as fh:
        opened = open_sealed_with_key(fh, identities, old_envelope)
        plaintext = b"".join(opened.plaintext)
    data_key, file_id = opened.data_key.reveal(), opened.header.file_id
    mf.verify(manifest, mf.manifest_key(data_key, file_id))
    altered = transform(plaintext)
    assert altered != plaintext

    out = io.BytesIO()
    sealed = seal_stream(
        io.BytesIO(altered),
        out,
        [X25519Recipient.parse(r) for r in repo.config.recipients],
        parse_codec(str(manifest["codec"])),
        dict(opened.header.label),
        detached=True,
        keys=(data_key, file_id),
        hash_plaintext=True,
    )
    data = out.getvalue()
    header = read_header(io.BytesIO(data))
    assert header.file_id == file_id
    # the envelope binds the header's SHA-256: a new header needs a new envelope
    stanzas = parse_envelope(old_envelope).stanzas
    envelope = for_header(header.raw, file_id, stanzas).encode(
        derive_subkeys(data_key, file_id).header_mac
    )
    doc = {k: v for k, v in manifest.items() if k != "mac"}
    doc["data_sha256"] = sealed.sha256.hex()
    doc["plaintext_sha256"] = hashlib.sha256(altered).hexdigest()
    doc["sizes"] = {
        "raw": sealed.plaintext_bytes,
        "compressed": sealed.compressed_bytes,
        "stored": sealed.stored_bytes,
    }
    assert sealed.plaintext_sha256 is not None
    assert doc["plaintext_sha256"] == sealed.plaintext_sha256.hex()
    signed = mf.sign(doc, mf.manifest_key(data_key, file_id))
    repo.backend.put(data_handle(bid), data, overwrite=True)
    repo.backend.put(envelope_handle(bid), envelope, overwrite=True)
    repo.backend.put(manifest_handle(bid), mf.encode(signed), overwrite=True)


def _insert(plain: bytes, table: str) -> re.Match[bytes]:
    """The extended INSERT of ``table``; group 1 is its rows ``(...),(...)`` (one per line
    with mariadb-dump 10.11, on one line with older dump tools)."""
    pattern = rb"^INSERT INTO `" + table.encode() + rb"` VALUES\s*(\(.*?\));$"
    m = re.search(pattern, plain, re.M | re.S)
    assert m, f"no INSERT for {table} in the dump"
    return m


def _rows(m: re.Match[bytes]) -> list[bytes]:
    return re.split(rb"(?<=\)),\s*(?=\()", m.group(1))


def cut_mid_insert(plain: bytes) -> bytes:
    """The dump stopped in the middle of the last table's INSERT (no completion marker)."""
    m = _insert(plain, "orders")
    assert plain.find(b"INSERT INTO", m.end()) == -1, "orders should be the last table"
    return plain[: (m.start() + m.end()) // 2]


def drop_half_the_rows(plain: bytes) -> bytes:
    """Half the rows of ``orders`` gone, the rest of the dump (and its marker) intact."""
    m = _insert(plain, "orders")
    rows = _rows(m)
    assert len(rows) == N_ORDERS
    kept = b",\n".join(rows[: N_ORDERS // 2])
    return plain[: m.start(1)] + kept + plain[m.end(1) :]


def change_one_value(plain: bytes) -> bytes:
    """One customer's name changed; every table keeps its row count."""
    m = _insert(plain, "customers")
    assert len(_rows(m)) == N_CUSTOMERS
    old = b"'customer-017'"
    assert m.group(1).count(old) == 1
    return plain[: m.start(1)] + m.group(1).replace(old, b"'customer-71'") + plain[m.end(1) :]


def test_reseal_helper_round_trips(vuser: DbsealUser, repo: Path, ids: list[str]) -> None:
    """The helper alone (identity transform + one byte) gives a backup every level accepts."""
    reseal(
        repo, ids[0], vuser.identity, lambda p: p.replace(b"-- MariaDB dump", b"-- MariaDB dumq")
    )
    passed(verify(vuser, repo, ids[0], level="integrity"))
    passed(verify(vuser, repo, ids[0], level="decrypt", key=vuser.identity))


def test_a_dump_that_stopped_early_fails_verification(
    vuser: DbsealUser, repo: Path, ids: list[str], sandbox_tmp: Path
) -> None:
    bid = ids[0]
    reseal(repo, bid, vuser.identity, cut_mid_insert)
    passed(verify(vuser, repo, bid, level="integrity"))  # consistent: the insider re-sealed it
    res = verify(vuser, repo, bid, level="restore", key=vuser.identity, env=in_tmp(sandbox_tmp))
    assert res.rc == 30, res.stdout + res.stderr
    assert "completion marker" in res.stdout and "stopped early" in res.stdout
    v = last_verification(vuser, repo, bid)
    assert (v["level"], v["result"]) == ("restore", "failed")
    dec = verify(vuser, repo, bid, level="decrypt", key=vuser.identity)
    assert dec.rc == 30 and "completion marker" in dec.stdout  # the decrypt level sees it too


def test_restore_level_counts_rows_a_forged_complete_dump_lost(
    vuser: DbsealUser, repo: Path, ids: list[str], shop: str, sandbox_tmp: Path
) -> None:
    bid = ids[0]
    reseal(repo, bid, vuser.identity, drop_half_the_rows)
    passed(verify(vuser, repo, bid, level="integrity"))
    passed(verify(vuser, repo, bid, level="decrypt", key=vuser.identity))
    res = verify(
        vuser, repo, bid, level="restore", key=vuser.identity, extra=("--json",),
        env=in_tmp(sandbox_tmp),
    )  # fmt: skip
    v = verify_json(res, 31)[0]
    assert v["error_class"] == "DataMismatch" and v["result"] == "failed"
    tables = {t["table"]: t for t in v["tables"]}
    assert (tables["orders"]["expected_rows"], tables["orders"]["found_rows"]) == (
        N_ORDERS,
        N_ORDERS // 2,
    )
    assert tables["orders"]["ok"] is False and tables["customers"]["ok"] is True
    assert v["problems"] == [
        f"table {shop}.orders has {N_ORDERS // 2} rows, the dump had {N_ORDERS}"
    ]


def test_restore_level_catches_a_changed_value_the_other_levels_cannot(
    vuser: DbsealUser, repo: Path, ids: list[str], shop: str, sandbox_tmp: Path
) -> None:
    bid = ids[0]
    reseal(repo, bid, vuser.identity, change_one_value)
    # the insider re-sealed correctly: the keyless and the keyed checks pass
    passed(verify(vuser, repo, bid, level="integrity"))
    passed(verify(vuser, repo, bid, level="decrypt", key=vuser.identity))
    res = verify(vuser, repo, bid, level="restore", key=vuser.identity, env=in_tmp(sandbox_tmp))
    assert res.rc == 31, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert re.match(rf"{bid}\s+restore\s+FAILED", lines[0]), res.stdout
    assert (
        f"    {shop}.customers: {N_CUSTOMERS} rows (expected {N_CUSTOMERS}, checksum !=) MISMATCH"
        in lines
    )
    assert f"    {shop}.orders: {N_ORDERS} rows (expected {N_ORDERS}, checksum =) ok" in lines
    problems = [ln for ln in lines if ln.startswith("    problem: ")]
    assert problems == [
        f"    problem: table {shop}.customers has other data than the dump (checksum differs)"
    ]
    last = last_verification(vuser, repo, bid)
    assert (last["level"], last["result"]) == ("restore", "failed")


def test_a_dump_the_server_refuses_is_a_bad_backup(
    vuser: DbsealUser, repo: Path, ids: list[str], sandbox_tmp: Path
) -> None:
    """A re-sealed dump cut inside a row but given its completion marker back: the
    server refuses the statement. That is the backup failing the restore check."""
    bid = ids[0]

    def cut_keep_marker(plain: bytes) -> bytes:
        tail = plain[plain.rindex(b"\n-- Dump completed") :]
        return cut_mid_insert(plain) + b"\n" + tail

    reseal(repo, bid, vuser.identity, cut_keep_marker)
    passed(verify(vuser, repo, bid, level="decrypt", key=vuser.identity))
    res = verify(
        vuser, repo, bid, level="restore", key=vuser.identity, extra=("--json",),
        env=in_tmp(sandbox_tmp),
    )  # fmt: skip
    assert res.rc != 0 and "Traceback" not in res.stderr
    v = json.loads(res.stdout)[0]
    assert v["result"] == "failed" and "syntax" in v["problems"][0]  # names the cause
    assert res.rc in (30, 31) and v["exit_code"] == res.rc, (res.rc, v["error_class"])


# --------------------------------------------------------------------------- 5. no leftovers


def test_throwaway_server_that_cannot_start_leaves_nothing_behind(
    vuser: DbsealUser, repo: Path, ids: list[str], sandbox_tmp: Path
) -> None:
    """mariadb-install-db runs (it starts its own bootstrap mariadbd), then the server
    (/bin/false) exits at once: the check could not run (32), and all of it is gone."""
    env = in_tmp(sandbox_tmp, DBSEAL_MARIADBD="/bin/false")
    res = verify(vuser, repo, level="restore", key=vuser.identity, extra=("--json",), env=env)
    v = verify_json(res, 32)[0]
    assert (v["result"], v["error_class"], v["exit_code"]) == ("error", "CheckNotRun", 32)
    assert "throwaway MariaDB server could not be started" in v["problems"][0]
    assert leftovers(sandbox_tmp) == []
    human = verify(vuser, repo, level="restore", key=vuser.identity, env=env)
    assert human.rc == 32 and "Traceback" not in human.stdout + human.stderr
    assert re.match(rf"{ids[-1]}\s+restore\s+ERROR", human.stdout), human.stdout
    assert leftovers(sandbox_tmp) == []
    assert record_files(repo, ids[-1]) == [], "a checker that cannot run records nothing"


def test_throwaway_server_that_cannot_start_is_reported_on_one_line(
    vuser: DbsealUser, repo: Path, ids: list[str], sandbox_tmp: Path
) -> None:
    env = in_tmp(sandbox_tmp, DBSEAL_MARIADBD="/bin/false")
    res = verify(vuser, repo, level="restore", key=vuser.identity, env=env)
    assert res.rc == 32
    lines = res.stdout.splitlines()
    assert len(lines) == 3, res.stdout  # the result line, one problem line, "not recorded"
    assert lines[2].startswith("    not recorded: ")
    assert lines[1].startswith("    problem: the throwaway MariaDB server could not be started")


@pytest.fixture(scope="module")
def big_repo(vuser: DbsealUser, mariadb: MariaDBSandbox, big_db: str) -> tuple[Path, str]:
    """A backup of ``big_db`` (~24 MB): its restore takes long enough to interrupt."""
    repo = vuser.init("big-repo")
    return repo, vuser.good_backup(repo, mariadb, big_db)


@pytest.mark.parametrize(
    "sig",
    [
        signal.SIGINT,
        signal.SIGTERM,
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_an_interrupted_restore_check_leaves_nothing_behind(
    vuser: DbsealUser, big_repo: tuple[Path, str], sig: signal.Signals, sandbox_tmp: Path
) -> None:
    repo, bid = big_repo
    tmp = sandbox_tmp
    proc = subprocess.Popen(
        [*DBSEAL, "verify", "--repo", str(repo), bid, "--level", "restore",
         "-i", str(vuser.identity), "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=vuser.home,
        env=clean_env(TMPDIR=str(tmp)),
        start_new_session=True,
    )  # fmt: skip
    seen: list[int] = []
    option_files: list[Path] = []
    try:
        assert proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline, buf, started = time.monotonic() + 60, b"", False
        while not started and time.monotonic() < deadline:
            if not sel.select(timeout=1):
                continue
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            started = b'"label": "restore test' in buf
        assert started, f"the restore never started: {buf[-2000:]!r}"
        # the throwaway server and the client restoring into it are running now
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = children(proc.pid)
            names = {Path((_cmdline(p) or ["?"])[0]).name for p in seen}
            if "mariadbd" in names and names & {"mariadb", "mysql"}:
                break
            time.sleep(0.02)
        assert processes_naming(str(tmp)), "no throwaway server found under the private TMPDIR"
        assert proc.poll() is None, "verify finished before it could be interrupted"
        # the client's option file (it holds the throwaway server's root password)
        option_files = [
            Path(a.split("=", 1)[1])
            for p in seen
            for a in _cmdline(p)
            if a.startswith("--defaults-file=")
        ]
        os.kill(proc.pid, sig)
        _, rest = proc.communicate(timeout=60)
        err = (buf + rest).decode("utf-8", "replace")
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err[-2000:]
            assert err.splitlines()[-1].startswith("dbseal: error: interrupted")
        deadline = time.monotonic() + 5  # a client may take a moment to see its stdin close
        while any(_alive(p) for p in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [f"process {p} {_cmdline(p)[0]}" for p in seen if _alive(p)]
        left += leftovers(tmp)
        left += [f"option file {f}" for f in option_files if f.exists()]
        assert not left, f"the interrupted verify left things behind: {sorted(set(left))}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sweep(tmp)  # before the fixture's check: an xfail must not turn into a teardown error
        for f in option_files:  # ours: named on the command line of our verify's client
            shutil.rmtree(f.parent, ignore_errors=True)


# --------------------------------------------------------------------------- 6. scratch


def test_restore_level_on_a_scratch_server_touches_only_its_own_databases(
    vuser: DbsealUser, repo: Path, ids: list[str], mariadb_restore: MariaDBSandbox, shop: str
) -> None:
    server = mariadb_restore
    keep = f"dbsv_keep_{uuid.uuid4().hex[:6]}"  # someone else's database on the scratch server
    run_sql(
        server,
        f"CREATE DATABASE `{keep}`",
        f"CREATE TABLE `{keep}`.t (id INT PRIMARY KEY)",
        f"INSERT INTO `{keep}`.t VALUES (1), (2)",
    )
    try:
        before = databases_on(server)
        users_before = fetch(server, "SELECT User, Host FROM mysql.global_priv ORDER BY 1, 2")
        res = verify(
            vuser, repo, ids[-1], level="restore", key=vuser.identity,
            extra=(
                "--scratch", f"mysql://root@127.0.0.1:{server.port}",
                "--scratch-password-file", vuser.password_file(server),
                "--scratch-ssl-ca", server.ca_cert, "--json",
            ),
        )  # fmt: skip
        v = verify_json(res, 0)[0]
        assert v["result"] == "ok" and v["level"] == "restore"
        assert {(t["database"], t["table"], t["found_rows"]) for t in v["tables"]} == {
            (shop, "customers", N_CUSTOMERS),
            (shop, "orders", N_ORDERS),
        }
        assert databases_on(server) == before  # the dbsv_<random>_* databases are gone
        assert not any(d.startswith("dbsv_") and shop in d for d in databases_on(server))
        assert fetch(server, "SELECT COUNT(*) FROM `" + keep + "`.t") == [(2,)]
        assert fetch(server, "SELECT User, Host FROM mysql.global_priv ORDER BY 1, 2") == (
            users_before
        )
    finally:
        run_sql(server, f"DROP DATABASE IF EXISTS `{keep}`")


# --------------------------------------------------------------------------- 7. --all


def test_verify_all_continues_past_a_damaged_backup(
    vuser: DbsealUser, repo: Path, ids: list[str]
) -> None:
    path = data_path(repo, ids[1])
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))

    res = verify(vuser, repo, "--all", level="integrity")
    assert res.rc == 30, res.stdout + res.stderr
    for bid, word in zip(ids, ("OK", "FAILED", "OK"), strict=True):
        assert re.search(rf"^{bid}\s+integrity\s+{word}\s", res.stdout, re.M), res.stdout
    assert "2 of 3 backups verified at level integrity" in res.stdout
    assert re.search(rf"^  FAILED {ids[1]}: ", res.stdout, re.M), res.stdout

    doc = verify_json(verify(vuser, repo, "--all", level="integrity", extra=("--json",)), 30)
    # every good backup, in id order (ids of one second sort by their random suffix)
    assert [v["backup_id"] for v in doc] == sorted(ids)
    assert {v["backup_id"]: v["result"] for v in doc} == {
        ids[0]: "ok",
        ids[1]: "failed",
        ids[2]: "ok",
    }
    listed = {b["id"]: b["verification"] for b in vuser.listing(repo)["backups"]}
    assert [listed[b]["result"] for b in ids] == ["ok", "failed", "ok"]
    for bid, result in zip(ids, ("ok", "failed", "ok"), strict=True):
        records = [json.loads(p.read_text()) for p in record_files(repo, bid)]
        assert [r["result"] for r in records] == [result, result]

    # the keyed level over all: the good ones decrypt, the damaged one is still 30
    doc = verify_json(
        verify(vuser, repo, "--all", level="decrypt", key=vuser.identity, extra=("--json",)), 30
    )
    assert {v["backup_id"]: v["result"] for v in doc} == {
        ids[0]: "ok",
        ids[1]: "failed",
        ids[2]: "ok",
    }


def test_verify_all_reports_a_backup_whose_manifest_is_damaged(
    vuser: DbsealUser, repo: Path, ids: list[str]
) -> None:
    path = repo / "manifests" / f"{ids[1]}.json"
    path.write_bytes(path.read_bytes()[:200])  # a torn write, a bad disk block
    assert {b["id"]: b["status"] for b in vuser.listing(repo)["backups"]}[ids[1]] == "damaged"
    res = verify(vuser, repo, "--all", level="integrity")
    assert res.rc == 30, res.stdout + res.stderr
    assert ids[1] in res.stdout and "2 of 3 backups verified" in res.stdout
    single = verify(vuser, repo, ids[1], level="integrity")
    assert single.rc == 30, single.stdout + single.stderr
