"""Keys are interchangeable with the real `age` tools; the file formats are not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cli.clikit import KeyPair, Runner

pytestmark = pytest.mark.skipif(
    shutil.which("age") is None or shutil.which("age-keygen") is None,
    reason="the age and age-keygen binaries are not installed",
)

DATA = b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1),(2),(3);\n" * 500


def _age(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["age", *map(str, args)], input=stdin, capture_output=True, timeout=30, check=False
    )


def test_key_from_age_keygen_works_with_dbseal(dbseal: Runner, tmp_path: Path) -> None:
    subprocess.run(["age-keygen", "-o", str(tmp_path / "age.key")], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(tmp_path / "age.key")], check=True, capture_output=True, text=True
    ).stdout.strip()

    sealed = dbseal("seal", "-r", public, stdin=DATA)
    assert sealed.rc == 0, sealed.stderr
    opened = dbseal("unseal", "-i", "age.key", stdin=sealed.stdout)
    assert (opened.rc, opened.stdout) == (0, DATA), opened.stderr


def test_key_from_dbseal_keygen_works_with_age(keypair: KeyPair) -> None:
    enc = _age("-r", keypair.recipient, stdin=DATA)
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout.startswith(b"age-encryption.org/v1\n")
    dec = _age("-d", "-i", keypair.identity_file, stdin=enc.stdout)
    assert (dec.returncode, dec.stdout) == (0, DATA), dec.stderr


def test_an_age_file_is_not_a_dbseal_file_and_vice_versa(
    dbseal: Runner, keypair: KeyPair, tmp_path: Path
) -> None:
    age_file = _age("-r", keypair.recipient, stdin=DATA).stdout
    (tmp_path / "f.age").write_bytes(age_file)
    dbseal("unseal", "-i", keypair.identity_file, "f.age").assert_error(3)

    dbseal_file = dbseal("seal", "-r", keypair.recipient, stdin=DATA).stdout
    dec = _age("-d", "-i", keypair.identity_file, stdin=dbseal_file)
    assert dec.returncode != 0
    assert DATA[:20] not in dec.stdout
