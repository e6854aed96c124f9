"""``[state]`` in dbseal.toml: where dbseal keeps host-local run state (the run locks)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StateConfig(BaseModel):
    """``[state]``: ``dir`` holds the per-source run locks (docs/operations.md, "Run lock")."""

    model_config = ConfigDict(extra="forbid", strict=True)

    dir: str | None = Field(
        None, description="a directory path (a string; relative to the config file)"
    )
