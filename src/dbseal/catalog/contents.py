"""What a backup holds and what it does not, from its manifest's ``contents``, for people.

``contents`` (written by the dump source, see docs/restore.md)::

    {"accounts": bool, "history": bool, "whole_server": bool,
     "exact_floats": ["db.t", ...], "inexact": ["FLOAT columns ... (why)", ...],
     "excluded_databases": [...], "excluded_tables": ["db.t*", ...]}

Manifests written before dbseal recorded it have no ``contents``: nothing is claimed.
"""

from __future__ import annotations

from typing import Any


def _yes_no(value: object) -> str:
    return "yes" if value is True else "no" if value is False else "?"


def contents_lines(manifest: dict[str, Any]) -> list[str]:
    """Lines for `dbseal show`: accounts yes/no, history yes/no, exclusions, inexact values."""
    c = manifest.get("contents")
    if not isinstance(c, dict):
        return ["contents     not recorded (a backup made before dbseal recorded its contents)"]
    lines = [
        f"contents     accounts (users, roles, grants): {_yes_no(c.get('accounts'))}; "
        f"system-versioned history: {_yes_no(c.get('history'))}",
    ]
    if c.get("excluded_databases"):
        lines.append(f"  excluded databases: {', '.join(c['excluded_databases'])}")
    if c.get("excluded_tables"):
        lines.append(f"  excluded tables: {', '.join(c['excluded_tables'])}")
    if c.get("exact_floats"):
        lines.append(f"  FLOAT values restored exactly by dbseal: {', '.join(c['exact_floats'])}")
    lines += [f"  inexact: {note}" for note in c.get("inexact") or []]
    return lines
