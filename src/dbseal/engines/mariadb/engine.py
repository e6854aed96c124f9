"""The MariaDB engine as the registry hands it out (:class:`~dbseal.engines.base.Engine`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.engines.base import BackupSource
from dbseal.errors import UsageError


class MariaDBEngine:
    name = "mariadb"
    methods: tuple[str, ...] = ("logical", "physical")

    def parse_target(self, url: str, **overrides: Any) -> Any:
        from dbseal.engines.mariadb.mysql_url import parse_mysql_url

        return parse_mysql_url(url, **overrides)

    def backup_source(
        self, method: str, target: Any, password: Secret | None, options: Mapping[str, Any]
    ) -> BackupSource:
        """``options``: for ``logical`` the fields of
        :class:`~dbseal.engines.mariadb.dumppolicy.DumpPolicy`, for ``physical`` those of
        :class:`~dbseal.engines.mariadb.physical.source.PhysicalOptions`."""
        if method == "physical":
            from dbseal.engines.mariadb.physical.source import MariabackupSource, PhysicalOptions

            return MariabackupSource(target, password, PhysicalOptions(**options))
        if method == "logical":
            from dbseal.engines.mariadb.mysqldump import DumpPolicy, MysqldumpSource

            return MysqldumpSource(target, password, DumpPolicy(**options))
        raise UsageError(
            f"unknown backup method {method!r} for MariaDB",
            hint=f"use one of: {', '.join(self.methods)}",
        )


ENGINE = MariaDBEngine()

__all__ = ["ENGINE", "MariaDBEngine"]
