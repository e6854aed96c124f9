"""Secret sources: file (0600 only), descriptor, command; and a Secret never shows itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dbseal.crypto import secret as secrets
from dbseal.crypto.secret import Secret, SecretSource
from dbseal.errors import SecretError, SecretPermissions


def _file(tmp_path: Path, content: bytes, mode: int = 0o600) -> str:
    path = tmp_path / "secret"
    path.write_bytes(content)
    path.chmod(mode)
    return str(path)


# --- files --------------------------------------------------------------------------------------


def test_file_with_mode_0600_is_read(tmp_path: Path) -> None:
    assert secrets.from_file(_file(tmp_path, b"s3cret-pass\n")).reveal() == b"s3cret-pass"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o666])
def test_file_readable_or_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _file(tmp_path, b"hunter2-very-secret\n", mode)
    with pytest.raises(SecretPermissions) as exc:
        secrets.from_file(path)
    err = exc.value
    assert isinstance(err, SecretError) and err.exit_code == 10
    assert f"{mode:04o}" in err.message
    assert "chmod 600" in err.one_line()
    assert "hunter2" not in err.one_line()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"pw", b"pw"),
        (b"pw\n", b"pw"),
        (b"pw\r\n", b"pw"),
        (b"pw\n\n", b"pw\n"),
        (b" pw \n", b" pw "),
        (b"two words\n", b"two words"),
        (b"hex:00ff10\n", b"\x00\xff\x10"),
        (b"hex:DEADbeef", b"\xde\xad\xbe\xef"),
    ],
)
def test_exactly_one_trailing_newline_is_stripped_and_hex_is_decoded(
    tmp_path: Path, content: bytes, expected: bytes
) -> None:
    assert secrets.from_file(_file(tmp_path, content)).reveal() == expected


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n", b"hex:", b"hex:\n"])
def test_empty_secret_is_refused(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(SecretError, match="empty"):
        secrets.from_file(_file(tmp_path, content))


@pytest.mark.parametrize("content", [b"hex:zz", b"hex:abc", b"hex:\xff\xfe"])
def test_invalid_hex_is_refused_without_echoing_it(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(SecretError) as exc:
        secrets.from_file(_file(tmp_path, content))
    assert content[4:].decode("latin-1") not in exc.value.message


def test_missing_file_and_directory_are_secret_errors(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="nope"):
        secrets.from_file(str(tmp_path / "nope"))
    with pytest.raises(SecretError, match="not a regular file"):
        secrets.from_file(str(tmp_path))


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="larger"):
        secrets.from_file(_file(tmp_path, b"a" * (secrets.MAX_SECRET_LEN + 1)))


# --- descriptors ---------------------------------------------------------------------------------


def test_descriptor_source_reads_to_eof_and_closes_it() -> None:
    r, w = os.pipe()
    os.write(w, b"from-a-pipe\n")
    os.close(w)
    assert secrets.from_fd(r).reveal() == b"from-a-pipe"
    with pytest.raises(OSError):
        os.fstat(r)


def test_bad_descriptor_is_a_secret_error() -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(SecretError):
        secrets.from_fd(r)


# --- commands ------------------------------------------------------------------------------------


def test_command_source_uses_standard_output() -> None:
    assert secrets.from_command("printf secret").reveal() == b"secret"
    assert secrets.from_command("echo from-vault").reveal() == b"from-vault"


def test_failing_command_reports_status_and_stderr_but_never_stdout() -> None:
    cmd = "echo leaked-passphrase-value; echo 'vault: permission denied' >&2; exit 3"
    with pytest.raises(SecretError) as exc:
        secrets.from_command(cmd)
    line = exc.value.one_line()
    assert "leaked-passphrase-value" not in line
    assert "3" in line and "vault: permission denied" in line


def test_command_printing_nothing_is_an_empty_secret() -> None:
    with pytest.raises(SecretError, match="empty"):
        secrets.from_command("true")


# --- the Secret type -----------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    s = Secret(b"hunter2")
    assert repr(s) == "Secret(***)"
    assert str(s) == "Secret(***)"
    assert f"{s}" == "Secret(***)"
    assert "hunter2" not in repr([s, {"k": s}])
    assert s.reveal() == b"hunter2" and len(s) == 7


def test_closed_secret_is_wiped() -> None:
    s = Secret(b"hunter2")
    s.close()
    assert s.reveal() == bytes(7)


def test_source_takes_a_file_named_by_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBSEAL_TEST_SECRET_FILE", _file(tmp_path, b"via-env\n"))
    src = SecretSource(env_file_var="DBSEAL_TEST_SECRET_FILE")
    assert src.is_given()
    assert src.get("passphrase").reveal() == b"via-env"


def test_prompt_without_a_terminal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()
    os.close(w)
    with os.fdopen(r) as not_a_tty:
        monkeypatch.setattr("sys.stdin", not_a_tty)
        with pytest.raises(SecretError, match="not a terminal"):
            SecretSource(prompt=True).get("passphrase")
