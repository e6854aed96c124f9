"""The schema of ``[check]`` and ``[sources.NAME.check]``: `dbseal check` thresholds.

A source's table overrides the keys it sets; the others come from ``[check]``,
then from the defaults in :mod:`dbseal.monitoring.thresholds` (documented in
docs/operations.md, section Monitoring).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = "a duration like 30m, 26h, 8d or 2w (a string)"


class CheckConfig(BaseModel):
    """What `dbseal check` calls healthy for a source."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_age_warning: str | None = Field(None, description=_DURATION)
    max_age_critical: str | None = Field(None, description=_DURATION)
    verify_max_age: str | None = Field(None, description=_DURATION)
    rto: str | None = Field(None, description=_DURATION)
    key_rotation: str | None = Field(None, description=_DURATION)
    failed_critical: int | None = Field(
        None, description="a number of failed backups since the last good one that is CRITICAL"
    )
    require_escrow: bool | None = Field(
        None, description="true or false (every recent backup must have an escrow recipient)"
    )
    escrow_recipients: str | list[str] | None = Field(
        None, description="an age1... recipient or a list of them (strings)"
    )
    escrow_within: str | None = Field(None, description=_DURATION)

    @field_validator(
        "max_age_warning",
        "max_age_critical",
        "verify_max_age",
        "rto",
        "key_rotation",
        "escrow_within",
    )
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

    @field_validator("failed_critical")
    @classmethod
    def _count(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"{value} is not a count of at least 1")
        return value


def is_check_table(keypath: tuple[str, ...]) -> bool:
    """``[check]`` or ``[sources.NAME.check]``."""
    return keypath == ("check",) or (
        len(keypath) == 3 and keypath[0] == "sources" and keypath[2] == "check"
    )
