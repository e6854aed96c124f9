"""The PostgreSQL engine as the registry hands it out (:class:`~dbseal.engines.base.Engine`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.engines.base import BackupSource
from dbseal.errors import UsageError


class PostgreSQLEngine:
    name = "postgresql"
    methods: tuple[str, ...] = ("logical", "physical")

    def parse_target(self, url: str, **overrides: Any) -> Any:
        from dbseal.engines.postgresql.url import parse_pg_url

        return parse_pg_url(url, **overrides)

    def backup_source(
        self, method: str, target: Any, password: Secret | None, options: Mapping[str, Any]
    ) -> BackupSource:
        """``options``: :class:`~dbseal.engines.postgresql.dump.PgDumpPolicy` fields (others
        ignored: the MariaDB-only policy fields the CLI passes every engine)."""
        if method == "logical":
            from dataclasses import fields

            from dbseal.engines.postgresql.dump import PgDumpPolicy, PgDumpSource

            known = {f.name for f in fields(PgDumpPolicy)}
            return PgDumpSource(
                target, password, PgDumpPolicy(**{k: v for k, v in options.items() if k in known})
            )
        if method == "physical":  # pg_basebackup: the whole cluster
            from dbseal.engines.postgresql.basebackup import PgBaseBackupSource

            return PgBaseBackupSource(target, password)
        raise UsageError(
            f"unknown backup method {method!r} for PostgreSQL",
            hint=f"use one of: {', '.join(self.methods)}",
        )


ENGINE = PostgreSQLEngine()

__all__ = ["ENGINE", "PostgreSQLEngine"]
