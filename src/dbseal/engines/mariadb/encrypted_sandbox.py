"""Throwaway servers with data-at-rest encryption (``file_key_management``), for tests,
demos and experiments.

:func:`encryption_my_cnf` gives the my.cnf lines of a server that encrypts every InnoDB
table and its redo log with the keys of ``key_file`` (``ID;<64 hex>`` lines), optionally
itself encrypted with a filekey (``file_key_management_filekey = FILE:path``: the file
holds the password ``openssl enc -aes-256-cbc -md sha1 -pass`` used);
:func:`encrypted_sandbox` is a :class:`~dbseal.engines.mariadb.sandbox.MariaDBSandbox`
with them (through its ``my_cnf`` option file).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbseal.engines.mariadb.sandbox import MariaDBSandbox


def encryption_my_cnf(
    key_file: str | os.PathLike[str], filekey: str | os.PathLike[str] | None = None
) -> list[str]:
    lines = [
        "plugin_load_add=file_key_management",
        f"file_key_management_filename={os.fspath(key_file)}",
        "innodb_encrypt_tables=ON",
        "innodb_encrypt_log=ON",
    ]
    if filekey is not None:
        lines += [
            f"file_key_management_filekey=FILE:{os.fspath(filekey)}",
            "file_key_management_encryption_algorithm=aes_cbc",
        ]
    return lines


def write_key_file(path: Path, ids: Sequence[int] = (1,)) -> Path:
    """A new plaintext key file with a random 256-bit key per id (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{i};{secrets.token_hex(32)}\n" for i in ids))
    return path


def encrypted_sandbox(
    key_file: str | os.PathLike[str],
    filekey: str | os.PathLike[str] | None = None,
    my_cnf: Sequence[str] = (),
    **kwargs: Any,
) -> MariaDBSandbox:
    """A sandbox (not started) whose server encrypts its data with ``key_file``."""
    return MariaDBSandbox(my_cnf=[*encryption_my_cnf(key_file, filekey), *my_cnf], **kwargs)


__all__ = ["encrypted_sandbox", "encryption_my_cnf", "write_key_file"]
