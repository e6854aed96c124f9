"""The shapes ``ops`` sees of a database engine (typing.Protocol; no engine is imported here).

Backup (``ops.backup``): a :class:`BackupSource` describes itself for the manifest
(``describe()``, no secret) and ``start()`` s a :class:`BackupRun`: a byte stream read to
its end (``read(n)``), then ``finish()``, the completion check, returns a
:class:`BackupResult` whose ``status`` is ``failed`` when the run did not complete (the
exit status alone is never trusted); it raises a :class:`~dbseal.errors.DbsealError` only
when it cannot tell. ``start()`` raises a DbsealError for a preflight failure, before any
data moves.

Restore (``ops.restore``): the bytes are written into a :class:`Sink`, through an optional
:class:`ByteFilter`; a :class:`RestoreSelection` says which databases are written under
which names; with a :class:`TargetDatabases` the restore is all or nothing (staging, then
one swap; :class:`SwapIncomplete` when the swap itself was cut).

An engine lives in ``engines/<name>/`` and is found through :mod:`dbseal.engines.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

from dbseal.crypto.secret import Secret


class BackupResult(Protocol):
    """What a finished run reports; ``reasons`` explain a status other than ``ok``.

    Optional: ``manifest_fields() -> dict`` adds top-level manifest fields (``method``,
    ``type``, ``parent``, ``from_lsn``, ``to_lsn``: see :mod:`dbseal.catalog.chains`)."""

    @property
    def status(self) -> str: ...  # ok | warnings | failed
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def stderr(self) -> bytes: ...  # kept (sealed) as the backup's log


class BackupRun(Protocol):
    """One running backup: its bytes, then the completion check."""

    def read(self, n: int = -1) -> bytes: ...
    def finish(self) -> BackupResult: ...
    def __enter__(self) -> BackupRun: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BackupSource(Protocol):
    """A database to back up, with one method (a logical dump, a physical copy...)."""

    def describe(self) -> dict[str, Any]: ...
    def start(self) -> BackupRun: ...


class Sink(Protocol):
    """Where a restore writes the backup's bytes (``abort`` on any failure, else ``close``)."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> Any: ...
    def abort(self) -> None: ...


class ByteFilter(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class PlaintextScan(ByteFilter, Protocol):
    """Reads the plaintext in pass 1 (its output is dropped); ``check`` may then refuse it."""

    def check(self) -> None: ...


class RestoreFilter(ByteFilter, Protocol):
    """A filter that renames: what it disabled or let keep an old name, for the report."""

    @property
    def disabled_events(self) -> Sequence[str]: ...
    @property
    def old_references(self) -> Sequence[str]: ...


class Staging(Protocol):
    """One restore's staging: ``names`` maps each target database to its staging database."""

    @property
    def backup(self) -> str: ...
    @property
    def names(self) -> Mapping[str, str]: ...
    def rename_of(self, target: str) -> str: ...


class Leftover(Protocol):
    """A staging database (or a marked target) left by a restore that could not clean up."""

    @property
    def staging(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def backup(self) -> str: ...


class DatabaseContents(Protocol):
    """An existing database on the target (``empty``: it holds nothing)."""

    @property
    def name(self) -> str: ...
    @property
    def empty(self) -> bool: ...
    @property
    def incomplete_of(self) -> str | None: ...  # the backup of a restore that stopped mid-swap
    def describe(self) -> str: ...


StagingT = TypeVar("StagingT", bound=Staging)
LeftoverT = TypeVar("LeftoverT", bound=Leftover)


class TargetDatabases(Protocol[StagingT, LeftoverT]):
    """The target server's databases, as the restore sees them (``ops`` uses
    ``TargetDatabases[Any, Any]``: it hands each engine back its own staging and leftovers)."""

    def address(self) -> str: ...
    def existing(self, names: Sequence[str]) -> Mapping[str, DatabaseContents]: ...
    def leftovers(self, names: Sequence[str]) -> Sequence[LeftoverT]: ...
    def discard(self, leftovers: Sequence[LeftoverT]) -> None: ...
    def begin(self, names: Sequence[str], backup: str) -> StagingT: ...
    def rollback(self, staging: StagingT) -> None: ...
    def commit(
        self, staging: StagingT, existing: Sequence[str], recharset: Sequence[str]
    ) -> None: ...


class RestoreSelection(Protocol):
    """Which databases of a backup a restore writes, under which names."""

    def targets(self, manifest: Mapping[str, Any]) -> list[str]: ...
    def scanner(self) -> PlaintextScan | None: ...
    def byte_filter(self, fresh: Sequence[str] = ()) -> RestoreFilter | None: ...
    def staged(self, manifest: Mapping[str, Any], staging: Staging) -> RestoreFilter: ...


class Engine(Protocol):
    """One database engine (``engines/<name>/``), as the CLI finds it in the registry."""

    @property
    def name(self) -> str: ...
    @property
    def methods(self) -> tuple[str, ...]: ...  # backup methods, the default first

    def parse_target(self, url: str, **overrides: Any) -> Any: ...
    def backup_source(
        self, method: str, target: Any, password: Secret | None, options: Mapping[str, Any]
    ) -> BackupSource: ...


class SwapIncomplete(Exception):
    """The new tables are in the targets, but finishing the swap failed (or was cut)."""


__all__ = [
    "BackupResult",
    "BackupRun",
    "BackupSource",
    "ByteFilter",
    "DatabaseContents",
    "Engine",
    "Leftover",
    "PlaintextScan",
    "RestoreFilter",
    "RestoreSelection",
    "Sink",
    "Staging",
    "SwapIncomplete",
    "TargetDatabases",
]
