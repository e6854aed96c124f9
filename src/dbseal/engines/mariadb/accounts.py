"""Accounts (users, roles, passwords, grants) as an inert section of a dump.

A backup that includes accounts ends with a section of SQL *comments*, one per account::

    -- dbseal-account: {"name": "'app'@'%'", "role": false, "create": "CREATE USER ...",
    --                  "grants": ["GRANT SELECT ON `shop`.* TO `app`@`%`", ...]}

(one line each, JSON). A client fed the dump ignores comments, so no restore path
applies accounts by accident. ``dbseal restore --accounts`` collects the lines as the
dump goes by (:class:`AccountsTap`) and, once the databases are restored, creates each
account that the target does not have, with its grants (:func:`apply_accounts`).
Accounts the target already has are left exactly as they are (a restore never changes
a password or a grant on the target); they are reported as such.

Read from the server: ``mysql.user`` (users and roles), ``SHOW CREATE USER`` (password
hash, plugin, TLS requirements, limits, lock and expiry) and ``SHOW GRANTS`` (privileges,
role grants, default roles). ``mariadb.sys`` is left out (every server has its own);
``PUBLIC`` (grants to everyone) is never created, and its grants are applied only to a
target whose ``PUBLIC`` has none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Protocol

import pymysql

from dbseal.engines.mariadb.connect import Conn

LINE_PREFIX = b"-- dbseal-account: "
PUBLIC = "PUBLIC"  # MariaDB 10.11's pseudo-role of grants to everyone
_SKIP = {("mariadb.sys", "localhost")}


@dataclass(frozen=True)
class Account:
    name: str  # 'user'@'host', or 'role'
    role: bool
    create: str
    grants: tuple[str, ...]


def _quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_accounts(conn: Conn) -> list[Account]:
    """Every account and role of the server (``mariadb.sys`` excepted), with its grants."""
    with conn.cursor() as cur:
        cur.execute("SELECT User, Host, is_role FROM mysql.user ORDER BY is_role DESC, User, Host")
        rows = [(str(u), str(h), str(r) == "Y") for u, h, r in cur.fetchall()]
        out = []
        for user, host, role in rows:
            if (user, host) in _SKIP or not user:
                continue
            name = _quote(user) if role else f"{_quote(user)}@{_quote(host)}"
            if role and user == PUBLIC:
                name, create = PUBLIC, ""  # every 10.11 server has it: only its grants
            elif role:
                create = f"CREATE ROLE {name}"
            else:
                cur.execute(f"SHOW CREATE USER {name}")
                create = str(cur.fetchone()[0])  # type: ignore[index]
            cur.execute(f"SHOW GRANTS FOR {name}")
            grants = tuple(str(r[0]) for r in cur.fetchall())
            out.append(Account(name, role, create, grants))
    return out


def account_section(accounts: Iterable[Account]) -> bytes:
    """The dump section: a heading, then one comment line per account."""
    lines = [
        b"--\n-- dbseal: accounts, as comments: only `dbseal restore --accounts` applies them\n--\n"
    ]
    for a in accounts:
        lines.append(LINE_PREFIX + json.dumps(asdict(a), ensure_ascii=True).encode() + b"\n")
    return b"".join(lines)


class ByteFilter(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class AccountsTap:
    """A byte filter that passes the dump on (through ``inner``) and collects its accounts."""

    def __init__(self, inner: ByteFilter | None = None) -> None:
        self._inner = inner
        self._carry = b""
        self.accounts: list[Account] = []

    def _scan(self, data: bytes, final: bool = False) -> None:
        buf = self._carry + data
        self._carry = b""
        pos = 0
        mark = b"\n" + LINE_PREFIX
        while (at := buf.find(mark, pos)) >= 0:
            eol = buf.find(b"\n", at + 1)
            if eol < 0:
                self._carry = buf[at:]
                return
            doc = json.loads(buf[at + len(mark) : eol])
            self.accounts.append(Account(**{**doc, "grants": tuple(doc["grants"])}))
            pos = eol
        if not final:
            self._carry = buf[max(pos, len(buf) - len(mark)) :]

    def around(self, inner: ByteFilter | None) -> AccountsTap:
        """This tap, passing the dump on through ``inner`` (the restore's own filter)."""
        self._inner = inner
        return self

    def feed(self, data: bytes) -> bytes:
        self._scan(data)
        return self._inner.feed(data) if self._inner is not None else data

    def flush(self) -> bytes:
        self._scan(b"", final=True)
        return self._inner.flush() if self._inner is not None else b""


@dataclass
class AccountsApplied:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already on the target: not touched
    failed: list[str] = field(default_factory=list)  # one line each: statement and error


def _exists(cur: pymysql.cursors.Cursor, account: Account) -> bool:
    """Whether the target has the account (for PUBLIC: whether it has any grant)."""
    try:
        cur.execute(f"SHOW GRANTS FOR {account.name}")
        if not cur.fetchall() and account.name == PUBLIC:
            return False
    except pymysql.err.MySQLError as exc:
        if exc.args and exc.args[0] in (1141, 1133, 1396):  # no such grant / user / role
            return False
        raise
    return True


def apply_accounts(conn: Conn, accounts: Iterable[Account]) -> AccountsApplied:
    """Create the accounts ``conn``'s server does not have (roles first), then their grants."""
    done = AccountsApplied()
    new: list[Account] = []
    with conn.cursor() as cur:
        for a in accounts:
            if _exists(cur, a):
                done.unchanged.append(a.name)
                continue
            try:
                if a.create:
                    cur.execute(a.create)
            except pymysql.err.MySQLError as exc:
                done.failed.append(f"{a.create.split(' IDENTIFIED')[0]}: {exc.args[-1]}")
                continue
            new.append(a)
            done.created.append(a.name)
        for a in new:
            for grant in a.grants:
                try:
                    cur.execute(grant)
                except pymysql.err.MySQLError as exc:
                    done.failed.append(f"{grant.split(' IDENTIFIED')[0]}: {exc.args[-1]}")
        cur.execute("FLUSH PRIVILEGES")
    return done
