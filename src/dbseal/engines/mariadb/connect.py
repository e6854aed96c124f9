"""PyMySQL connections with explicit TLS, and the facts a dump needs from the server.

PyMySQL tries TLS without verification when given no TLS settings at all, so every mode
is spelled out: ``ssl_disabled=True`` for ``disabled``, PyMySQL's own opportunistic TLS
for ``preferred``, and an :class:`ssl.SSLContext` (which makes PyMySQL refuse a server
without TLS before it authenticates) for the others. After connecting, the negotiated
cipher is checked again from the server's side.

Failures become :class:`DatabaseTLSError` with one of three distinct messages (no TLS
offered, certificate names another host, certificate not signed by the CA) or
:class:`DatabaseError`. No message contains the password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import pymysql

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.errors import DatabaseError, DatabaseTLSError

if TYPE_CHECKING:
    from pymysql.connections import Connection
    from pymysql.cursors import Cursor

    Conn: TypeAlias = Connection[Cursor]
else:
    Conn = pymysql.connections.Connection
SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
CONNECT_TIMEOUT = 15
DEFAULT_SOCKET = "/run/mysqld/mysqld.sock"
_CR_SSL_CONNECTION_ERROR = 2026
_HOST_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_UNTRUSTED = {2, 18, 19, 20, 21, 27}  # unknown issuer, self-signed, untrusted chain
_TLS_VERSIONS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class TLSInfo:
    """The TLS session as the server reports it (``Ssl_version``, ``Ssl_cipher``)."""

    version: str
    cipher: str


def ssl_context(target: MySQLTarget) -> ssl.SSLContext:
    """The client TLS context for ``required``/``verify-ca``/``verify-identity``."""
    try:
        ctx = ssl.create_default_context(cafile=target.ssl_ca)
        if target.ssl_cert:
            ctx.load_cert_chain(target.ssl_cert, target.ssl_key)
        if target.ssl_cipher:
            ctx.set_ciphers(target.ssl_cipher)
    except (OSError, ssl.SSLError) as exc:
        raise DatabaseTLSError(f"cannot load the TLS files or settings: {exc}") from None
    ctx.check_hostname = target.ssl_mode == "verify-identity"
    if target.ssl_mode == "required":
        ctx.verify_mode = ssl.CERT_NONE
    if target.tls_versions:
        versions = sorted(_tls_version(v) for v in target.tls_versions.split(",") if v.strip())
        ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]
    return ctx


def _tls_version(name: str) -> ssl.TLSVersion:
    try:
        return _TLS_VERSIONS[name.strip().lower()]
    except KeyError:
        raise DatabaseTLSError(
            f"unknown TLS version {name.strip()!r}",
            hint="use TLSv1.2 and/or TLSv1.3, for example --tls-version TLSv1.2,TLSv1.3",
        ) from None


def connect(
    target: MySQLTarget,
    password: Secret | None,
    database: str | None = None,
    read_timeout: float | None = None,
) -> Conn:
    """Open a PyMySQL connection to ``target`` with its TLS mode; checks TLS when required."""
    mode = target.ssl_mode
    ctx = ssl_context(target) if mode not in ("disabled", "preferred") else None
    try:
        conn: Conn = pymysql.connect(
            user=target.user,
            password=password.reveal() if password is not None else b"",
            host=target.host or "localhost",
            port=target.port,
            unix_socket=(target.socket or DEFAULT_SOCKET) if target.host is None else None,
            database=database,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=read_timeout,
            charset="utf8mb4",
            autocommit=True,
            ssl=ctx,
            ssl_disabled=True if mode == "disabled" else None,
        )
    except pymysql.err.MySQLError as exc:
        raise _connect_error(target, exc) from None
    if ctx is not None and session_tls(conn) is None:
        conn.close()
        raise _no_tls(target)
    return conn


def _no_tls(target: MySQLTarget) -> DatabaseTLSError:
    return DatabaseTLSError(
        f"the server offers no TLS: {target.address()} cannot be reached with ssl mode "
        f"{target.ssl_mode!r}",
        hint="enable TLS on the server (ssl_cert, ssl_key), or choose another ssl mode",
    )


def _connect_error(target: MySQLTarget, exc: pymysql.err.MySQLError) -> DatabaseError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code == _CR_SSL_CONNECTION_ERROR and "doesn't support" in text:
        return _no_tls(target)
    cause = exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        if cause.verify_code in _HOST_MISMATCH:
            return DatabaseTLSError(
                f"the server certificate does not match host {target.host!r}: "
                f"{cause.verify_message}",
                hint="connect with the name the certificate was issued for, or fix the "
                "certificate; --ssl-mode verify-ca checks the CA only",
            )
        if cause.verify_code in _UNTRUSTED:
            return DatabaseTLSError(
                f"the server certificate is not signed by the CA "
                f"({target.ssl_ca or 'system trust store'}): {cause.verify_message}",
                hint="pass the CA that signed the server's certificate with --ssl-ca",
            )
        return DatabaseTLSError(f"the server certificate was refused: {cause.verify_message}")
    if isinstance(cause, ssl.SSLError):
        return DatabaseTLSError(f"TLS with {target.address()} failed: {cause.reason or cause}")
    where = target.address()
    if code == 1045:
        return DatabaseError(
            f"{where}: access denied (wrong user or password): {text}",
            hint="check the user in the URL and the password given with --password-file",
        )
    return DatabaseError(f"cannot connect to {where}: {text}")


def session_tls(conn: Conn) -> TLSInfo | None:
    """The connection's TLS version and cipher, or None for plaintext."""
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
        status = {str(k).lower(): str(v or "") for k, v in cur.fetchall()}
    cipher, version = status.get("ssl_cipher", ""), status.get("ssl_version", "")
    return TLSInfo(version=version, cipher=cipher) if cipher else None


def server_version(conn: Conn) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]) if row else ""


def user_databases(conn: Conn) -> list[str]:
    """All databases the account sees, without mysql, information_schema, performance_schema, sys."""
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
        names = [str(r[0]) for r in cur.fetchall()]
    return [n for n in names if n.lower() not in SYSTEM_DATABASES]


def missing_databases(conn: Conn, names: list[str]) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        present = {str(r[0]) for r in cur.fetchall()}
    return [n for n in names if n not in present]


def quote_ident(name: str) -> str:
    """A backquoted SQL identifier (backquotes inside doubled)."""
    return "`" + name.replace("`", "``") + "`"
