"""Which databases of a backup a restore writes, under which names (a :class:`RenameFilter`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbseal.engines.base import PlaintextScan, Staging
from dbseal.engines.mariadb.rename import RenameFilter


@dataclass(frozen=True)
class Selection:
    """Which databases of a backup are restored (``only``; None: all), under which names."""

    rename: Mapping[str, str] = field(default_factory=dict)
    only: frozenset[str] | None = None
    keep_events_enabled: bool = False  # renamed copies' events are created disabled otherwise
    allow_old_references: bool = False  # restore objects that still name a renamed database

    def targets(self, manifest: Mapping[str, Any]) -> list[str]:
        """The names the restore writes to, in the backup's order."""
        names = [str(d) for d in manifest.get("databases") or []]
        return [self.rename.get(d, d) for d in names if self.only is None or d in self.only]

    def byte_filter(self, fresh: Sequence[str] = ()) -> RenameFilter | None:
        """Renames and selects; the databases of ``fresh`` must not exist when created."""
        if not self.rename and self.only is None and not fresh:
            return None
        return self._filter(dict(self.rename) or None, fresh, None)

    def scanner(self) -> PlaintextScan | None:
        """For pass 1: finds objects that would still name a renamed database."""
        found = self.byte_filter()
        return found.scanner() if found is not None and self.rename else None

    def staged(self, manifest: Mapping[str, Any], staging: Staging) -> RenameFilter:
        """The filter that restores each selected database into its staging database.

        The staging names are internal: events, old references and the names reported
        follow the user's ``rename`` only (the swap writes the targets' names back into
        the objects it recreates)."""
        names = [str(d) for d in manifest.get("databases") or []]
        rename = {d: staging.rename_of(self.rename.get(d, d)) for d in names}
        return self._filter(rename, list(staging.names.values()), dict(self.rename))

    def _filter(
        self, mapping: dict[str, str] | None, fresh: Sequence[str], final: dict[str, str] | None
    ) -> RenameFilter:
        return RenameFilter(
            mapping,
            self.only,
            fresh=set(fresh),
            keep_events_enabled=self.keep_events_enabled,
            allow_old_references=self.allow_old_references,
            final=final,
        )


__all__ = ["Selection"]
