"""Restore a backup's accounts: only with ``dbseal restore --accounts``, only missing ones.

The accounts travel in the dump as inert comment lines (:mod:`dbseal.engines.mariadb.accounts`);
:func:`accounts_tap` collects them while the databases are restored, and
:func:`restore_accounts` then creates, over one connection, each account the target
does not have, with its grants. An account the target already has is never changed.
"""

from __future__ import annotations

from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.accounts import (
    Account,
    AccountsApplied,
    AccountsTap,
    ByteFilter,
    apply_accounts,
)
from dbseal.engines.mariadb.connect import connect
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.errors import AccountsNotRestored, UsageError


def accounts_tap(manifest: dict[str, Any], bid: str, inner: ByteFilter | None) -> AccountsTap:
    """The filter that collects the accounts; refuses a backup that holds none."""
    if not (manifest.get("contents") or {}).get("accounts"):
        raise UsageError(
            f"backup {bid} holds no accounts; nothing was restored",
            hint="drop --accounts, or back up with --accounts (the default for a whole server)",
        )
    return AccountsTap(inner)


def restore_accounts(
    target: MySQLTarget, password: Secret | None, accounts: list[Account]
) -> AccountsApplied:
    conn = connect(target, password)
    try:
        conn.autocommit(True)
        return apply_accounts(conn, accounts)
    finally:
        conn.close()


def accounts_lines(applied: AccountsApplied) -> list[str]:
    """What happened to the accounts, for people (one line per outcome)."""
    lines = [f"accounts created: {', '.join(applied.created) or 'none'}"]
    if applied.unchanged:
        lines.append(
            f"accounts left unchanged (already on the target): {', '.join(applied.unchanged)}"
        )
    lines += [f"account statement refused: {f}" for f in applied.failed]
    return lines


def raise_if_accounts_failed(bid: str, applied: AccountsApplied) -> None:
    if applied.failed:
        raise AccountsNotRestored(
            f"backup {bid}'s databases were restored, but {len(applied.failed)} account "
            f"statement(s) were refused, the first: {applied.failed[0]}"
        )
