"""The schema of dbseal.toml: unknown keys, wrong types and bad values are errors.

pydantic v2 in strict mode: a string never becomes a boolean, an integer never a string.
Each field's ``description`` is what the error message says the value must be.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dbseal.config import SSL_MODES
from dbseal.config.schema_check import CheckConfig, is_check_table
from dbseal.config.schema_events import HooksConfig, LogConfig, PingConfig, tables_at
from dbseal.config.schema_physical import METHOD_HELP, SCRATCH_HELP, BackupMethod
from dbseal.config.schema_postgresql import PostgresSourceConfig
from dbseal.config.schema_state import StateConfig

_STRICT = ConfigDict(extra="forbid", strict=True)
_STR = "a string"
_PATH = "a path (a string)"
_PATHS = "a path or a list of paths (strings)"


_COUNT = "a number of units to keep (an integer; -1: all)"
_DURATION = "a duration like 30m, 24h, 7d or 2w (a string)"


class RetentionConfig(BaseModel):
    """``[retention]`` or ``[sources.NAME.retention]``: what `dbseal forget` keeps."""

    model_config = _STRICT

    keep_last: int | None = Field(None, description=_COUNT)
    keep_hourly: int | None = Field(None, description=_COUNT)
    keep_daily: int | None = Field(None, description=_COUNT)
    keep_weekly: int | None = Field(None, description=_COUNT)
    keep_monthly: int | None = Field(None, description=_COUNT)
    keep_yearly: int | None = Field(None, description=_COUNT)
    keep_within: str | None = Field(None, description=_DURATION)
    keep_failed_within: str | None = Field(None, description=_DURATION)

    @field_validator("keep_within", "keep_failed_within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        from dbseal.cli.durations import parse_duration
        from dbseal.errors import UsageError

        if value is not None:
            try:
                parse_duration(value)
            except UsageError:
                raise ValueError(f"{value!r} is not {_DURATION}") from None
        return value

    @field_validator(
        "keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"
    )
    @classmethod
    def _count(cls, value: int | None) -> int | None:
        if value is not None and value < -1:
            raise ValueError(f"{value} is not {_COUNT}")
        return value


class SourceConfig(BaseModel):
    """One ``[sources.NAME]`` table: a database server to back up."""

    model_config = _STRICT

    url: str | None = Field(None, description="a mysql://USER@HOST[:PORT][/DB,...] URL (a string)")
    socket: str | None = Field(None, description=_PATH)
    password_file: str | None = Field(None, description=_PATH)
    password_command: str | None = Field(None, description="a shell command (a string)")
    password_secret: str | None = Field(None, description="a sealed secret's name (a string)")
    ssl_ca: str | None = Field(None, description=_PATH)
    ssl_cert: str | None = Field(None, description=_PATH)
    ssl_key: str | None = Field(None, description=_PATH)
    ssl_mode: Literal[SSL_MODES] | None = Field(  # type: ignore[valid-type]
        None, description="one of " + ", ".join(SSL_MODES)
    )
    tls_version: str | None = Field(None, description="a list like TLSv1.2,TLSv1.3 (a string)")
    ssl_cipher: str | None = Field(None, description=_STR)
    allow_insecure_remote: bool | None = Field(None, description="true or false")
    compress: str | None = Field(
        None, description="a codec: zstd, zstd:LEVEL, lz4, gzip, gzip:LEVEL or none"
    )
    recipients: str | list[str] | None = Field(
        None, description="a recipient or a list of recipients (strings)"
    )
    retention: RetentionConfig | None = Field(
        None, description="a table [sources.NAME.retention] (replaces [retention] for NAME)"
    )
    accounts: bool | None = Field(
        None, description="true or false (back up users, roles and grants)"
    )
    exclude_databases: str | list[str] | None = Field(
        None, description="a database name pattern or a list of them (strings)"
    )
    exclude_tables: str | list[str] | None = Field(
        None, description="a DB.TABLE pattern or a list of them (strings)"
    )
    check: CheckConfig | None = Field(
        None, description="a table [sources.NAME.check] (`dbseal check` thresholds for NAME)"
    )
    ping: PingConfig | None = Field(
        None, description="a table [sources.NAME.ping] (replaces [ping] for NAME)"
    )
    postgresql: PostgresSourceConfig | None = Field(
        None, description="a table [sources.NAME.postgresql] (PostgreSQL dump options)"
    )
    method: BackupMethod | None = Field(None, description=METHOD_HELP)
    scratch_dir: str | None = Field(None, description=SCRATCH_HELP)
    no_key_material: bool | None = Field(
        None, description="physical: do not seal the server's key file into the backup"
    )

    @field_validator("compress")
    @classmethod
    def _codec(cls, value: str | None) -> str | None:
        from dbseal.codecs import parse_codec
        from dbseal.errors import UsageError

        if value is not None:
            try:
                parse_codec(value, threads=0)
            except UsageError as exc:
                raise ValueError(exc.message) from None
        return value


class FileConfig(BaseModel):
    """The whole file: top-level keys and the ``[sources.NAME]`` tables."""

    model_config = _STRICT

    repository: str | None = Field(None, description="a repository location (a string)")
    keyring: str | None = Field(None, description=_PATH)
    keyring_passphrase_file: str | None = Field(None, description=_PATH)
    keyring_passphrase_command: str | None = Field(None, description="a shell command (a string)")
    identity_files: str | list[str] | None = Field(None, description=_PATHS)
    retention: RetentionConfig | None = Field(None, description="a table [retention]")
    state: StateConfig | None = Field(None, description="a table [state]")
    check: CheckConfig | None = Field(None, description="a table [check]")
    log: LogConfig | None = Field(None, description="a table [log]")
    hooks: HooksConfig | None = Field(None, description="a table [hooks]")
    ping: PingConfig | None = Field(None, description="a table [ping]")
    sources: dict[str, SourceConfig] = Field(
        default_factory=dict, description="tables [sources.NAME]"
    )


def fields_at(keypath: tuple[str, ...]) -> dict[str, str]:
    """The keys allowed in the table at ``keypath`` (name -> description); {} if none."""
    model: type[BaseModel] | None = None
    if len(keypath) == 0:
        model = FileConfig
    elif len(keypath) == 2 and keypath[0] == "sources":
        model = SourceConfig
    elif len(keypath) == 3 and keypath[0] == "sources" and keypath[2] == "postgresql":
        model = PostgresSourceConfig
    elif keypath == ("retention",) or (
        len(keypath) == 3 and keypath[0] == "sources" and keypath[2] == "retention"
    ):
        model = RetentionConfig
    elif keypath == ("state",):
        model = StateConfig
    elif is_check_table(keypath):
        model = CheckConfig
    model = model or tables_at(keypath)
    if model is None:
        return {}
    return {(f.alias or name): str(f.description) for name, f in model.model_fields.items()}
