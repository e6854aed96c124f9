"""`dbseal restore`: which restore runs (point-in-time, physical into a datadir, or logical).

``--until``/``--until-gtid``/``--until-position`` (and ``--dry-run``, ``auto``) are a
point-in-time recovery (:mod:`dbseal.cli.binlog_commands`); everything else goes to
:func:`dbseal.cli.physrestore_commands.cmd_restore_any`, which sends ``--datadir`` to the
physical restore and the rest to the logical one.
"""

from __future__ import annotations

import argparse

from dbseal.errors import UsageError

_PITR = ("until", "until_gtid", "until_position")


def cmd_restore_dispatch(args: argparse.Namespace) -> int:
    pitr = any(getattr(args, dest, None) for dest in _PITR)
    if pitr and getattr(args, "datadir", None):
        raise UsageError(
            "--until, --until-gtid and --until-position replay binary logs into a server, "
            "not into a datadir",
            hint="restore with --target mysql://USER@HOST (docs/pitr.md)",
        )
    if pitr or getattr(args, "dry_run", False) or getattr(args, "backup", None) == "auto":
        from dbseal.cli.binlog_commands import cmd_restore_maybe_pitr

        return cmd_restore_maybe_pitr(args)  # it refuses a physical base (NoPitrBase)
    from dbseal.cli.physrestore_commands import cmd_restore_any

    return cmd_restore_any(args)
