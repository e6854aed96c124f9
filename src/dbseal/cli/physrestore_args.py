"""`dbseal restore --datadir DIR`: the options of a physical restore (mariadb-backup chains).

:func:`add_datadir_options` is called on the restore parser after its own
``set_defaults(func=...)``: it adds the options and routes the command through
:func:`dbseal.cli.physrestore_commands.cmd_restore_any` (``--datadir`` -> the physical
restore, else the logical restore as before).
"""

from __future__ import annotations

import argparse
import importlib


def _run(args: argparse.Namespace) -> int:
    module = importlib.import_module("dbseal.cli.physrestore_commands")
    rc: int = module.cmd_restore_any(args)
    return rc


def add_datadir_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("physical restore (--method physical backups)")
    g.add_argument(
        "--datadir",
        metavar="DIR",
        help="restore a physical backup (and its chain) into this new or empty directory, "
        "prepared and ready for mariadbd (instead of --target)",
    )
    g.add_argument(
        "--prepare-memory",
        metavar="SIZE",
        help="memory for mariadb-backup --prepare, e.g. 512M, 2G (default: a quarter of "
        "MemAvailable, at most 1G; more makes prepare faster)",
    )
    g.add_argument(
        "--user",
        dest="datadir_user",
        metavar="NAME",
        help="owner of the restored datadir and key files (default: mysql, when run as root "
        "and that user exists; otherwise the files stay yours)",
    )
    g.add_argument(
        "--key-file",
        metavar="FILE",
        help="the file_key_management key file, for a backup taken with --no-key-material "
        "(or to use instead of the key file the backup carries)",
    )
    g.add_argument(
        "--key-dir",
        metavar="DIR",
        help="write the restored key files here (default: where the backed-up server had "
        "them); the restore prints the my.cnf lines that name them",
    )
    p.set_defaults(func=_run)


__all__ = ["add_datadir_options"]
