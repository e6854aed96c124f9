"""`dbseal backup` options of the backup methods (``--method physical``, incrementals)."""

from __future__ import annotations

import argparse


def add_physical_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--method",
        choices=("logical", "physical"),
        help="logical: mariadb-dump (the default); physical: a hot file-level copy with "
        "mariadb-backup (whole server, on the database host only)",
    )
    p.add_argument(
        "--incremental",
        action="store_true",
        help="physical: only the pages changed since the base (needs a key that opens the base, "
        "-i/--keyring/--passphrase-file, to authenticate its LSN)",
    )
    p.add_argument(
        "--base",
        metavar="ID",
        help="physical --incremental: the backup to build on (default: the newest good "
        "physical backup of the source whose chain is whole)",
    )
    p.add_argument(
        "--scratch-dir",
        metavar="DIR",
        help="physical: where mariadb-backup writes its small metadata files (default: $TMPDIR)",
    )
