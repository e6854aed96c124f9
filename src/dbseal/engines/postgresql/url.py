"""Where a PostgreSQL server is: ``postgresql://USER@HOST[:PORT]/DB[,DB...]``.

A :class:`PGTarget` holds no secret (a URL with a password is refused; the password comes
from a file, a descriptor, a command, a prompt or a sealed secret, and reaches libpq through
a passfile). ``?host=/run/postgresql`` (or an empty host, or a HOST starting with ``/``)
means the Unix socket in that directory. TLS: ``?sslmode=`` (libpq's names, or dbseal's
MariaDB names ``disabled``/``preferred``/``required``/``verify-ca``/``verify-identity``),
``sslrootcert``, ``sslcert``, ``sslkey``. A server not on this machine is reached with
``verify-full`` unless the user opts out with ``--allow-insecure-remote``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from dbseal.errors import UsageError

DEFAULT_PORT = 5432
SCHEMES = ("postgresql", "postgres")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# the MariaDB engine's names (CLI --ssl-mode, dbseal.toml ssl_mode) mean the same here
_MODE_ALIASES = {
    "disabled": "disable",
    "preferred": "prefer",
    "required": "require",
    "verify-identity": "verify-full",
}
_QUERY = {
    "host": "socket",
    "sslmode": "ssl_mode",
    "sslrootcert": "ssl_ca",
    "sslcert": "ssl_cert",
    "sslkey": "ssl_key",
}
_OVERRIDABLE = {"user", "host", "port", "socket", "databases", "allow_insecure_remote"} | set(
    _QUERY.values()
)
INSECURE_FLAG = "--allow-insecure-remote"


def _is_local(host: str | None) -> bool:
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _conninfo_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class PGTarget:
    """A server, a role and the databases; ``host=None`` means the Unix socket in ``socket``."""

    user: str
    host: str | None = None
    port: int = DEFAULT_PORT
    socket: str | None = None  # a directory (libpq's host=/dir)
    databases: tuple[str, ...] = ()
    ssl_mode: str = "prefer"
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    allow_insecure_remote: bool = False

    @property
    def local(self) -> bool:
        return self.host is None or _is_local(self.host)

    def conninfo(self, database: str = "postgres") -> str:
        """A libpq connection string (no password in it; that is in the passfile)."""
        parts = {
            "host": self.socket if self.host is None else self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": database,
            "application_name": "dbseal",
        }
        if self.host is not None:
            parts["sslmode"] = self.ssl_mode
            for key, value in (
                ("sslrootcert", self.ssl_ca),
                ("sslcert", self.ssl_cert),
                ("sslkey", self.ssl_key),
            ):
                if value:
                    parts[key] = value
        return " ".join(f"{k}={_conninfo_value(v)}" for k, v in parts.items() if v is not None)

    def describe(self) -> str:
        where = f"{self.host}:{self.port}" if self.host is not None else f"{self.socket}"
        return f"postgresql://{self.user}@{where}"

    def with_databases(self, databases: tuple[str, ...]) -> PGTarget:
        return replace(self, databases=databases)


def _mode(value: str) -> str:
    mode = _MODE_ALIASES.get(value, value)
    if mode not in SSL_MODES:
        raise UsageError(f"unknown sslmode {value!r}", hint=f"use one of: {', '.join(SSL_MODES)}")
    return mode


def parse_pg_url(url: str, **overrides: Any) -> PGTarget:
    """Parse a postgresql:// URL; ``overrides`` (from options or dbseal.toml) win over it."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise UsageError(
            f"not a PostgreSQL URL: {url!r}", hint="write postgresql://USER@HOST[:PORT]/DB[,DB...]"
        )
    if parts.password is not None:
        raise UsageError(
            "the URL contains a password; it would be visible in the process list and shell history",
            hint="drop it from the URL and pass --password-file F (or a password_secret)",
        )
    if not parts.username:
        raise UsageError(
            f"the URL {parts.scheme}://{parts.hostname or ''}... names no role",
            hint="write postgresql://USER@HOST[:PORT]/DB",
        )
    fields: dict[str, Any] = {"user": unquote(parts.username)}
    host = unquote(parts.hostname or "")
    if host.startswith("/"):
        fields["socket"] = host
    elif host:
        fields["host"] = host
    try:
        if parts.port is not None:
            fields["port"] = parts.port
    except ValueError:
        raise UsageError(f"invalid port in {url!r}") from None
    path = unquote(parts.path.lstrip("/"))
    if path:
        dbs = tuple(d for d in path.split(",") if d)
        fields["databases"] = dbs
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _QUERY:
            raise UsageError(
                f"unknown URL parameter {key!r}", hint=f"known: {', '.join(sorted(_QUERY))}"
            )
        fields[_QUERY[key]] = value
    for key, value in overrides.items():
        if key in _OVERRIDABLE and value is not None:
            fields[key] = value
        elif key == "tls_versions" or key == "ssl_cipher":
            raise UsageError(
                f"--{key.replace('_', '-').rstrip('s')} is not supported for PostgreSQL",
                hint="libpq negotiates TLS 1.2 or newer; set ssl_min_protocol_version on the server",
            )
    if fields.get("socket"):  # ?host=/dir (or --socket) wins over the authority, as in libpq
        fields.pop("host", None)
    if "host" not in fields and not fields.get("socket"):
        fields["socket"] = "/var/run/postgresql"
    host_v = fields.get("host")
    local = host_v is None or _is_local(host_v)
    given = "ssl_mode" in fields
    mode = _mode(fields["ssl_mode"]) if given else ("prefer" if local else "verify-full")
    fields["ssl_mode"] = mode
    if not local and mode != "verify-full" and not fields.get("allow_insecure_remote"):
        raise UsageError(
            f"sslmode={mode} for {host_v}, a server not on this machine: its identity would not be checked",
            hint=f"use sslmode=verify-full with sslrootcert=CA (the default), or pass {INSECURE_FLAG}",
        )
    return PGTarget(**fields)


__all__ = ["DEFAULT_PORT", "SCHEMES", "SSL_MODES", "PGTarget", "parse_pg_url"]
