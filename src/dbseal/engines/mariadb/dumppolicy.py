"""How strict and how complete a dump is (:class:`DumpPolicy`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DumpPolicy:
    """How strict a dump is.

    ``client_older``: a dump client older (major.minor) than the server is a warning or
    refused before dumping. ``warnings``: warnings leave the backup usable or fail it.
    ``table_checksum``: ``dump`` hashes each table's rows in the dump stream itself
    (:mod:`dbseal.engines.mariadb.tabledigest`: no work for the server), ``server`` has the
    server hash every row (``md5-sum64``, :mod:`dbseal.engines.mariadb.stats`) in the snapshot,
    ``off`` records row counts only. ``checksum_max_bytes``: with ``server``, larger
    tables get row counts only (0: never checksum).
    ``shared_snapshot``: try FLUSH TABLES WITH READ LOCK (waiting at most
    ``lock_wait_timeout`` seconds) so the statistics share the dump's snapshot, holding
    it at most ``start_timeout`` seconds while the dump starts.
    ``accounts``: add the users, roles and grants (:mod:`dbseal.engines.mariadb.accounts`);
    None: only when the whole server is dumped (the source names no database).
    ``exact_floats``: add the exact FLOAT values (:mod:`dbseal.engines.mariadb.exactfloat`).
    ``exclude_databases``, ``exclude_tables``: patterns of what to leave out
    (:mod:`dbseal.engines.mariadb.exclude`).
    Unless ``table_checksum`` is ``off``, tables up to ``checksum_max_bytes`` also get
    an exact-values checksum (:func:`dbseal.engines.mariadb.stats.values_sql`) in the snapshot.
    """

    client_older: Literal["warn", "refuse"] = "warn"
    warnings: Literal["warn", "fail"] = "warn"
    checksum_max_bytes: int = 1 << 30
    table_checksum: Literal["dump", "server", "off"] = "dump"
    shared_snapshot: bool = True
    lock_wait_timeout: int = 10
    start_timeout: float = 30.0
    accounts: bool | None = None
    exact_floats: bool = True
    exclude_databases: tuple[str, ...] = ()
    exclude_tables: tuple[str, ...] = ()

    def values_max_bytes(self) -> int:
        """Tables up to this size get the exact-values checksum (none with ``off``)."""
        return 0 if self.table_checksum == "off" else self.checksum_max_bytes
