"""Where a MariaDB/MySQL server is and how to talk to it: ``mysql://USER@HOST[:PORT][/DB,...]``.

A :class:`MySQLTarget` holds no secret: the password always comes separately (a file, a
descriptor, a command or a prompt), so a URL with a password in it is refused. TLS is the
default for every server that is not on this machine; turning it off for a remote server
takes an explicit ``--allow-insecure-remote``.

Query parameters may give what the authority cannot: ``?socket=/run/mysqld/mysqld.sock``,
``ssl-mode``, ``ssl-ca``, ``ssl-cert``, ``ssl-key``, ``tls-version`` and ``ssl-cipher``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal, cast, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

from dbseal.errors import UsageError

SSLMode = Literal["disabled", "preferred", "required", "verify-ca", "verify-identity"]
SSL_MODES: tuple[str, ...] = get_args(SSLMode)
DEFAULT_PORT = 3306
SCHEMES = ("mysql", "mariadb")
INSECURE_FLAG = "--allow-insecure-remote"
_QUERY_FIELDS = {
    "socket": "socket",
    "ssl-mode": "ssl_mode",
    "ssl-ca": "ssl_ca",
    "ssl-cert": "ssl_cert",
    "ssl-key": "ssl_key",
    "tls-version": "tls_versions",
    "ssl-cipher": "ssl_cipher",
}
_OVERRIDABLE = frozenset(f.replace("-", "_") for f in _QUERY_FIELDS.values()) | {
    "user",
    "host",
    "port",
    "databases",
    "allow_insecure_remote",
}


@dataclass(frozen=True)
class MySQLTarget:
    """A server, an account and the databases to dump; ``host=None`` means the unix socket."""

    user: str
    host: str | None = None
    port: int = DEFAULT_PORT
    socket: str | None = None
    databases: tuple[str, ...] = ()
    ssl_mode: SSLMode = "preferred"
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    tls_versions: str | None = None
    ssl_cipher: str | None = None
    allow_insecure_remote: bool = False

    @property
    def is_local(self) -> bool:
        return is_local_host(self.host)

    @property
    def verifies_certificate(self) -> bool:
        return self.ssl_mode in ("verify-ca", "verify-identity")

    def address(self) -> str:
        """``user@host:port`` or ``user@socket:PATH``, for messages and manifests."""
        if self.host is None:
            return f"{self.user}@socket:{self.socket or '(default socket)'}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}"


def is_local_host(host: str | None) -> bool:
    """True for the unix socket, ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host is None or host.lower().rstrip(".") == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def parse_mysql_url(url: str, **overrides: object) -> MySQLTarget:
    """Parse ``mysql://USER@HOST[:PORT][/DB[,DB...]]`` (or ``mariadb://``) into a target.

    ``overrides`` are :class:`MySQLTarget` fields (from command-line options) that win over
    the URL. Raises UsageError for a password in the URL, an unknown parameter, a bad port
    or ssl mode, and for a remote server without verified-or-required TLS unless
    ``allow_insecure_remote`` is set.
    """
    unknown = set(overrides) - _OVERRIDABLE
    if unknown:
        raise UsageError(f"unknown connection setting(s): {', '.join(sorted(unknown))}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise UsageError(
            f"not a MySQL URL: {_redact_url(url)!r}",
            hint="write mysql://USER@HOST[:PORT][/DB,...] (or mariadb://...)",
        )
    if parts.password is not None or ":" in parts.netloc.rpartition("@")[0]:
        raise UsageError(
            "the URL contains a password; secrets are never given on the command line",
            hint="remove it from the URL and use --password-file, --password-fd or --password-command",
        )
    fields: dict[str, object] = {}
    if parts.username:
        fields["user"] = unquote(parts.username)
    if parts.hostname:
        fields["host"] = unquote(parts.hostname)
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"invalid port in {url!r}") from None
    if port is not None:
        fields["port"] = port
    dbs = tuple(unquote(d) for d in parts.path.lstrip("/").split(",") if d)
    if dbs:
        fields["databases"] = dbs
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        name = key.lower().replace("_", "-")
        if name in ("password", "pwd", "pass"):
            raise UsageError(
                "the URL contains a password; secrets are never given on the command line"
            )
        if name not in _QUERY_FIELDS:
            known = ", ".join(sorted(_QUERY_FIELDS))
            raise UsageError(f"unknown URL parameter {key!r}", hint=f"known parameters: {known}")
        fields[_QUERY_FIELDS[name]] = value
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return _build(fields)


def _text(fields: dict[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"invalid {name.replace('_', '-')} {value!r}")
    return value


def _build(fields: dict[str, object]) -> MySQLTarget:
    user = _text(fields, "user")
    if not user:
        raise UsageError("no user in the MySQL URL", hint="write mysql://USER@HOST/...")
    host = _text(fields, "host")
    if host == "":
        raise UsageError("empty host name")
    socket = _text(fields, "socket")
    if socket and host is not None and host.lower() == "localhost":
        host = None  # MySQL's convention: localhost with a socket means the socket, never TCP
    if socket and host is not None:
        raise UsageError(
            f"both a socket ({socket}) and a TCP host ({host}) were given",
            hint="use mysql://USER@localhost with --socket, or a host without --socket",
        )
    port = fields.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise UsageError(f"invalid port {port!r}")
    mode = (_text(fields, "ssl_mode") or "").lower().replace("_", "-")
    if not mode:
        mode = "preferred" if is_local_host(host) else "verify-identity"
    if mode not in SSL_MODES:
        raise UsageError(f"unknown ssl mode {mode!r}", hint=f"use one of {', '.join(SSL_MODES)}")
    dbs = fields.get("databases", ())
    if isinstance(dbs, str):
        dbs = dbs.split(",")
    if not isinstance(dbs, tuple | list):
        raise UsageError(f"invalid database list {dbs!r}")
    target = MySQLTarget(
        user=user,
        host=host,
        port=port,
        socket=socket,
        databases=tuple(str(d) for d in dbs if d),
        ssl_mode=cast(SSLMode, mode),
        ssl_ca=_text(fields, "ssl_ca"),
        ssl_cert=_text(fields, "ssl_cert"),
        ssl_key=_text(fields, "ssl_key"),
        tls_versions=_text(fields, "tls_versions"),
        ssl_cipher=_text(fields, "ssl_cipher"),
        allow_insecure_remote=bool(fields.get("allow_insecure_remote", False)),
    )
    check_transport(target)
    return target


def check_transport(target: MySQLTarget) -> None:
    """Refuse a remote server reached without required TLS, unless explicitly allowed."""
    if target.is_local or target.allow_insecure_remote:
        return
    if target.ssl_mode in ("disabled", "preferred"):
        raise UsageError(
            f"TLS is required for remote servers: {target.address()} with ssl mode "
            f"{target.ssl_mode!r} could send the dump in plaintext",
            hint=f"use ssl mode verify-identity (the default) with --ssl-ca, or pass "
            f"{INSECURE_FLAG} to accept an unencrypted or unverified connection",
        )


def _redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url[:80]
    cred, at, tail = rest.rpartition("@")
    return f"{scheme}://{cred.split(':', 1)[0]}@{tail}" if at else url
