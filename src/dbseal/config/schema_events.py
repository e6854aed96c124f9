"""dbseal.toml tables for the event log, hooks and pings (docs/events.md).

``[log]``, ``[hooks.backup|verify|forget]``, ``[ping]`` and ``[sources.NAME.ping]``;
strict like the rest of the schema (:mod:`dbseal.config.schema`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_STRICT = ConfigDict(extra="forbid", strict=True)
_DURATION = "a duration like 10s, 5m or 1h (a string)"

PLACEHOLDERS = ("source", "backup_id", "exit_code", "error", "error_class", "command", "repo")
HOOKED_COMMANDS = ("backup", "verify", "forget")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_duration(value: str | None) -> str | None:
    from dbseal.cli.durations import parse_duration
    from dbseal.errors import UsageError

    if value is not None:
        try:
            seconds = parse_duration(value).total_seconds()
        except UsageError:
            raise ValueError(f"{value!r} is not {_DURATION}") from None
        if seconds <= 0:
            raise ValueError(f"{value!r} is not {_DURATION} above zero")
    return value


def _check_placeholders(text: str) -> None:
    for name in _PLACEHOLDER.findall(text):
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")


class LogConfig(BaseModel):
    """``[log]``: where events go besides the command's own output."""

    # the key is `json`, which BaseModel itself uses: the field has another name
    model_config = ConfigDict(
        extra="forbid", strict=True, validate_by_name=False, serialize_by_alias=True
    )

    json_log: str | None = Field(
        None, alias="json", description="a path (a string): the JSON-lines event log"
    )
    syslog: bool | None = Field(None, description="true or false (one summary line per command)")
    syslog_socket: str | None = Field(
        None, description="a path (a string): the syslog socket (default /dev/log)"
    )


Command = str | list[str]


class HookSet(BaseModel):
    """``[hooks.COMMAND]``: programs run before, after and on a failure of COMMAND."""

    model_config = _STRICT

    before: Command | None = Field(None, description="a command: a list of strings (argv)")
    after: Command | None = Field(None, description="a command: a list of strings (argv)")
    on_error: Command | None = Field(None, description="a command: a list of strings (argv)")
    timeout: str = Field("5m", description=_DURATION)
    shell: bool = Field(False, description="true or false (true: each command is one string)")

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        _check_duration(value)
        return value

    @model_validator(mode="after")
    def _shape(self) -> HookSet:
        for name in ("before", "after", "on_error"):
            cmd: Any = getattr(self, name)
            if cmd is None:
                continue
            if self.shell and not isinstance(cmd, str):
                raise ValueError(f"{name}: with shell = true, a command is one string")
            if not self.shell and not isinstance(cmd, list):
                raise ValueError(
                    f"{name}: a command is a list of strings (argv), or set shell = true"
                )
            if isinstance(cmd, list) and (not cmd or not cmd[0]):
                raise ValueError(f"{name}: the command's list is empty")
            for part in [cmd] if isinstance(cmd, str) else cmd:
                _check_placeholders(part)
        return self


class HooksConfig(BaseModel):
    """``[hooks]``: one table per command that has hooks."""

    model_config = _STRICT

    backup: HookSet | None = Field(None, description="a table [hooks.backup]")
    verify: HookSet | None = Field(None, description="a table [hooks.verify]")
    forget: HookSet | None = Field(None, description="a table [hooks.forget]")


class PingConfig(BaseModel):
    """``[ping]`` or ``[sources.NAME.ping]``: a healthchecks.io-style check URL."""

    model_config = _STRICT

    url: str = Field(description="an http:// or https:// URL (a string)")
    timeout: str = Field("10s", description=_DURATION)
    retries: int = Field(2, description="retries after a failed ping (an integer, 0 to 5)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value.split('://')[0]!r} is not an http:// or https:// URL")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        _check_duration(value)
        return value

    @field_validator("retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 5:
            raise ValueError(f"{value} is not between 0 and 5")
        return value


def tables_at(keypath: tuple[str, ...]) -> type[BaseModel] | None:
    """The model of one of these tables at ``keypath`` (for error messages), else None."""
    if keypath == ("log",):
        return LogConfig
    if keypath == ("hooks",):
        return HooksConfig
    if len(keypath) == 2 and keypath[0] == "hooks":
        return HookSet
    if keypath == ("ping",) or (len(keypath) == 3 and keypath[::2] == ("sources", "ping")):
        return PingConfig
    return None
