"""``[sources.NAME.postgresql]``: how a PostgreSQL source is dumped (the connection itself is
the source's ``url``, ``password_*`` and ``ssl_*`` keys, as for MariaDB)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PostgresSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    jobs: int | None = Field(None, ge=1, le=64, description="pg_dump --jobs (an integer 1..64)")
    role_passwords: bool | None = Field(
        None, description="true or false (keep the roles' password hashes in the globals)"
    )
    globals: bool | None = Field(
        None, description="true or false (pg_dumpall --globals-only; default true)"
    )
    scratch_dir: str | None = Field(None, description="a path (a string)")


__all__ = ["PostgresSourceConfig"]
