"""A throwaway mariadbd on an existing datadir (a restored physical backup).

Like :class:`~dbseal.engines.mariadb.sandbox.MariaDBSandbox` (private 0700 directory for
socket, pid file, error log and tmpdir; loopback only), but it runs no
``mariadb-install-db``: the datadir is given, and left in place by :meth:`stop`. The
restored accounts are unknown to dbseal, so the server runs with ``--skip-grant-tables``
and ``--skip-networking``: only the unix socket in the private directory answers.

``key_options`` are the key plugin's options (``plugin_load_add=file_key_management``,
``file_key_management_filename=...``, ...), as my.cnf lines, given to mariadbd as
command-line options.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

_NOT_OPTIONS = ("[", "#", "datadir=")


def key_option_args(lines: Sequence[str]) -> list[str]:
    """my.cnf lines -> ``--name=value`` arguments (section headers and datadir dropped)."""
    return [
        f"--{line.strip()}" for line in lines if line.strip() and not line.startswith(_NOT_OPTIONS)
    ]


class DatadirServer(MariaDBSandbox):
    """mariadbd on ``datadir`` (kept by :meth:`stop`), socket only, no grant checks."""

    def __init__(
        self,
        datadir: str | os.PathLike[str],
        key_options: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        parent_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            tls=False,
            extra_args=[
                "--skip-grant-tables",
                "--skip-networking",
                "--innodb-buffer-pool-size=128M",
                *key_option_args(key_options),
                *extra_args,
            ],
            parent_dir=os.path.abspath(parent_dir) if parent_dir is not None else None,
        )
        self._existing = Path(datadir).absolute()  # mariadbd runs in its own directory

    @property
    def datadir(self) -> Path:
        return self._existing

    def _install(self, install_db: str) -> None:
        """Nothing to install: the datadir exists."""

    def error_lines(self) -> list[str]:
        """The ``[ERROR]`` lines of the server's log so far."""
        try:
            text = self.error_log.read_text(errors="replace")
        except OSError:
            return []
        return [ln.strip() for ln in text.splitlines() if "[ERROR]" in ln]


__all__ = ["DatadirServer", "key_option_args"]
