"""The sealed globals (``pg_dumpall --globals-only``) applied to a target: roles the target
lacks are created; a role the target already has is left as it is (its CREATE/ALTER ROLE
lines are skipped), like the MariaDB engine's ``--accounts``."""

from __future__ import annotations

import re

_ROLE_LINE = re.compile(r'^(?:CREATE|ALTER) ROLE ("(?:[^"]|"")+"|[^\s;]+)[\s;]')


def _unquote(name: str) -> str:
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name.lower()


def roles_to_create(globals_sql: str, existing: set[str]) -> tuple[str, list[str]]:
    """The SQL to run, and the roles it creates (those not in ``existing``)."""
    out, created = [], []
    for line in globals_sql.splitlines():
        m = _ROLE_LINE.match(line)
        if m is not None:
            name = _unquote(m.group(1))
            if name in existing:
                continue
            if line.startswith("CREATE ROLE"):
                created.append(name)
        out.append(line)
    return "\n".join(out) + "\n", created


__all__ = ["roles_to_create"]
