"""`dbseal restore ... --until`: the base restore and the binlog replay, in one all-or-nothing
restore (see :mod:`dbseal.ops.pitr` for the plan and the target semantics).

The base backup goes through ``ops.restore``'s two passes unchanged. Pass 1 also decrypts
and authenticates every archived segment of the plan into a 0700 scratch directory (on
``/dev/shm`` when possible) and refuses DDL in the replay range; pass 2 loads the base into
the staging databases and then replays the events into the same staging databases; only
then does the swap move them into place. The scratch directory is removed at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.crypto.recipients import Identity
from dbseal.engines.base import PlaintextScan, RestoreFilter, RestoreSelection, Staging
from dbseal.errors import PitrTargetUnavailable
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.pitr import PitrPlan
from dbseal.ops.pitr_segments import authenticate_segments, ddl_in_range, remove_scratch
from dbseal.ops.restore import RestoreOptions, _Backup, _passes
from dbseal.ops.restore_target import ByteFilter, Sink, TargetDatabases

Replay = Callable[[PitrPlan, Mapping[str, str]], None]


class _CapturingSelection:
    """The user's selection, remembering which staging database each backup database gets."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.renames: dict[str, str] = {}

    def targets(self, manifest: Mapping[str, Any]) -> list[str]:
        out: list[str] = self.inner.targets(manifest)
        return out

    def scanner(self) -> PlaintextScan | None:
        scan: PlaintextScan | None = self.inner.scanner()
        return scan

    def byte_filter(self, fresh: Sequence[str] = ()) -> RestoreFilter | None:
        f: RestoreFilter | None = self.inner.byte_filter(fresh)
        return f

    def staged(self, manifest: Mapping[str, Any], staging: Staging) -> RestoreFilter:
        rename = getattr(self.inner, "rename", {}) or {}
        only = getattr(self.inner, "only", None)
        for d in (str(x) for x in manifest.get("databases") or []):
            if only is None or d in only:
                self.renames[d] = staging.rename_of(rename.get(d, d))
        f: RestoreFilter = self.inner.staged(manifest, staging)
        return f


@dataclass(frozen=True)
class _PitrBackup(_Backup):
    plan: PitrPlan | None = None
    replay: Replay | None = None
    selection: _CapturingSelection | None = None
    scratch_factory: Callable[[], Any] | None = None

    def authenticate(self, scan: PlaintextScan | None) -> None:
        super().authenticate(scan)
        self._segments()

    def _segments(self) -> None:
        assert self.plan is not None and self.scratch_factory is not None
        if self.plan.paths:
            return
        self.reporter.event("restore.phase", label="authenticate binlogs", expected_bytes=None)
        authenticate_segments(self.repo, self.identities, self.plan, self.scratch_factory())
        databases = [str(d) for d in self.manifest.get("databases") or []]
        ddl = ddl_in_range(self.plan, databases)
        if ddl:
            raise PitrTargetUnavailable(
                f"the replay range holds {len(ddl)} DDL statement(s) on the restored databases, "
                f"the first: {ddl[0]}; recover to a point before it (nothing was applied)"
            )

    def apply(self, sink: Sink, byte_filter: ByteFilter | None) -> int:
        self._segments()  # --no-verify-first: still authenticated before the base is applied
        total = super().apply(sink, byte_filter)
        assert self.plan is not None and self.replay is not None and self.selection is not None
        self.reporter.event("restore.phase", label="replay binlogs", expected_bytes=None)
        self.replay(self.plan, self.selection.renames)
        return total


def restore_pitr(
    repo: Repository,
    plan: PitrPlan,
    identities: Sequence[Identity],
    make_sink: Callable[[], Sink],
    selection: RestoreSelection,
    target: TargetDatabases[Any, Any],
    replay: Replay,
    scratch_factory: Callable[[], Any],
    options: RestoreOptions | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Restore ``plan``'s base and replay its events into the staging databases, then swap."""
    reporter = reporter or NullReporter()
    options = dataclasses.replace(options or RestoreOptions(), spool=False)
    capture = _CapturingSelection(selection)
    backup = _PitrBackup(
        repo,
        str(plan.base["id"]),
        identities,
        plan.base,
        reporter,
        None,
        None,
        plan,
        replay,
        capture,
        scratch_factory,
    )
    try:
        result = _passes(backup, make_sink, capture, target, options)
    finally:
        with contextlib.suppress(OSError):
            remove_scratch(plan)
    reporter.event("restore.end", id=plan.base["id"])
    return {**result, "pitr": plan.to_json()}
