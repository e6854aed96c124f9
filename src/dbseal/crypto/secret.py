"""Secrets: a type that never shows itself, and the places secrets may come from.

A secret comes from a file (mode 0600, owned by us), a file descriptor, a
command's standard output, or an interactive prompt. Never from argv, never
from an environment variable's value (a variable may only name a file).
A value prefixed ``hex:`` is hex-decoded; exactly one trailing newline is
stripped.
"""

from __future__ import annotations

import getpass
import os
import stat
import subprocess
import sys
from dataclasses import dataclass

from dbseal.crypto.hardening import lock_buffer, wipe
from dbseal.errors import SecretError, SecretPermissions

MAX_SECRET_LEN = 1 << 16


class Secret:
    """Secret bytes in a locked, wiped-on-close buffer; repr and str are ``***``."""

    __slots__ = ("_buf",)

    def __init__(self, value: bytes | bytearray) -> None:
        self._buf = bytearray(value)
        lock_buffer(self._buf)

    def reveal(self) -> bytes:
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        import hmac

        return isinstance(other, Secret) and hmac.compare_digest(self._buf, other._buf)

    def __hash__(self) -> int:
        return id(self)

    def close(self) -> None:
        wipe(self._buf)

    def __del__(self) -> None:
        self.close()


def _finish(raw: bytes, what: str) -> Secret:
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.startswith(b"hex:"):
        try:
            raw = bytes.fromhex(raw[4:].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise SecretError(f"{what} starts with hex: but is not valid hexadecimal") from None
    if not raw:
        raise SecretError(f"{what} is empty")
    return Secret(raw)


def check_private_file(path: str, what: str) -> os.stat_result:
    """Refuse a secret file that others could read or write."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SecretError(f"cannot read {what} {path!r}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISFIFO(st.st_mode):
        raise SecretError(f"{what} {path!r} is not a regular file")
    if stat.S_ISREG(st.st_mode) and st.st_uid not in (os.geteuid(), 0):
        raise SecretPermissions(f"{what} {path!r} is owned by another user (uid {st.st_uid})")
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        raise SecretPermissions(
            f"{what} {path!r} has mode {stat.S_IMODE(st.st_mode):04o}: readable or writable by group or others"
        )
    return st


def from_file(path: str, what: str = "secret file") -> Secret:
    check_private_file(path, what)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SECRET_LEN + 1)
    except OSError as exc:
        raise SecretError(f"cannot read {what} {path!r}: {exc.strerror}") from None
    if len(raw) > MAX_SECRET_LEN:
        raise SecretError(f"{what} {path!r} is larger than {MAX_SECRET_LEN} bytes")
    return _finish(raw, what)


def from_fd(fd: int, what: str = "secret") -> Secret:
    try:
        chunks = []
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_SECRET_LEN:
                raise SecretError(f"{what} on descriptor {fd} is too long")
        os.close(fd)
    except OSError as exc:
        raise SecretError(f"cannot read {what} from descriptor {fd}: {exc.strerror}") from None
    return _finish(b"".join(chunks), what)


def from_command(command: str, what: str = "secret") -> Secret:
    """Run ``command`` through /bin/sh; its standard output is the secret."""
    try:
        proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=False)
    except OSError as exc:
        raise SecretError(f"cannot run the {what} command: {exc.strerror}") from None
    if proc.returncode != 0:
        # The command's stderr is its own message, never the secret (which is on stdout).
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {err[-1][:200]}" if err else ""
        raise SecretError(f"the {what} command exited with status {proc.returncode}{detail}")
    return _finish(proc.stdout, what)


def from_prompt(prompt: str, confirm: bool, what: str = "passphrase") -> Secret:
    try:
        with open("/dev/tty", "rb"):
            pass
        has_tty = True
    except OSError:
        has_tty = sys.stdin.isatty()
    if not has_tty:
        raise SecretError(
            f"no {what} given and standard input is not a terminal",
            hint="use --passphrase-file, --passphrase-fd or --passphrase-command",
        )
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != first:
        raise SecretError(f"the two {what}s do not match")
    return _finish(first.encode("utf-8"), what)


@dataclass(frozen=True)
class SecretSource:
    """Where to get one secret; exactly one field is set."""

    file: str | None = None
    fd: int | None = None
    command: str | None = None
    prompt: bool = False
    env_file_var: str | None = None  # an environment variable that may NAME a file

    def is_given(self) -> bool:
        env_file = os.environ.get(self.env_file_var) if self.env_file_var else None
        return bool(self.file or self.fd is not None or self.command or self.prompt or env_file)

    def get(self, what: str, confirm: bool = False) -> Secret:
        if self.file:
            return from_file(self.file, f"{what} file")
        if self.fd is not None:
            return from_fd(self.fd, what)
        if self.command:
            return from_command(self.command, what)
        env_file = os.environ.get(self.env_file_var) if self.env_file_var else None
        if env_file:
            return from_file(env_file, f"{what} file (from ${self.env_file_var})")
        return from_prompt(f"Enter {what}", confirm, what)
