"""The target side of a restore: the checks before it, and the all-or-nothing apply.

:func:`check_target` refuses a target database that holds anything (unless ``replace``)
or that an earlier restore left incomplete. :func:`apply_staged` applies the dump into
staging databases and moves them into the targets only when complete (the engine's
swap, e.g. MariaDB's ``engines/mariadb/swap.py``); whatever stops it before that drops the
staging databases, and the error says what happened to the target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from dbseal.engines.base import (
    ByteFilter,
    DatabaseContents,
    PlaintextScan,
    RestoreFilter,
    RestoreSelection,
    Sink,
    Staging,
    SwapIncomplete,
    TargetDatabases,
)
from dbseal.errors import (
    DbsealError,
    IncompleteRestoreFound,
    Interrupted,
    RestoreFailed,
    TargetNotEmpty,
)
from dbseal.monitoring.reporter import Reporter


def check_target(
    target: TargetDatabases[Any, Any], names: Sequence[str], replace: bool
) -> Mapping[str, DatabaseContents]:
    """The databases of ``names`` that exist; raises TargetNotEmpty for one that holds
    anything, unless ``replace``."""
    existing = target.existing(names)
    if not replace:
        _refuse_leftovers(target, names, existing)
    busy = [existing[n] for n in names if n in existing and not existing[n].empty]
    if busy and not replace:
        what = "; ".join(f"{c.name} (holds {c.describe()})" for c in busy)
        one = len(busy) == 1
        raise TargetNotEmpty(
            f"database{'' if one else 's'} {what} on {target.address()} already "
            f"exist{'s' if one else ''} and {'is' if one else 'are'} not empty; nothing was restored"
        )
    return existing


def _refuse_leftovers(
    target: TargetDatabases[Any, Any],
    names: Sequence[str],
    existing: Mapping[str, DatabaseContents],
) -> None:
    marked = [
        f"database {n} was left by an incomplete restore of {existing[n].incomplete_of}"
        for n in names
        if n in existing and existing[n].incomplete_of
    ]
    marked += [
        f"an incomplete restore of {left.backup} into {left.target} left its staging "
        f"database {left.staging}"
        for left in target.leftovers(names)
    ]
    if marked:
        raise IncompleteRestoreFound(
            f"{'; '.join(marked)} on {target.address()}; rerun with --replace; nothing was restored"
        )


def rename_outcome(byte_filter: RestoreFilter | None, reporter: Reporter) -> dict[str, list[str]]:
    """The events a renamed restore created disabled, and the old names it was allowed to keep."""
    disabled = byte_filter.disabled_events if byte_filter else []
    kept = byte_filter.old_references if byte_filter else []
    if disabled:
        reporter.event("restore.events_disabled", events=disabled)
    if kept:
        reporter.event("restore.old_references", objects=kept)
    return {"disabled_events": list(disabled), "old_references": list(kept)}


def outcome(
    names: Sequence[str], existing: Mapping[str, DatabaseContents], replace: bool
) -> dict[str, list[str]]:
    """Which databases the restore created, replaced, or filled while they were empty."""
    return {
        "databases": list(names),
        "created": [n for n in names if n not in existing],
        "replaced": [n for n in names if n in existing and replace],
        "existing_empty": [n for n in names if n in existing and not replace],
    }


class Applier(Protocol):
    """A backup that can be applied into a sink (``ops.restore``'s pass 2)."""

    @property
    def bid(self) -> str: ...
    @property
    def manifest(self) -> dict[str, Any]: ...
    @property
    def reporter(self) -> Reporter: ...

    def apply(self, sink: Sink, byte_filter: ByteFilter | None) -> int: ...


@dataclass(frozen=True)
class Plan:
    names: Sequence[str]
    existing: Sequence[str]
    replace: bool

    def untouched(self) -> str:
        """What a stopped restore left of the target (nothing)."""
        parts = []
        kept = [n for n in self.names if n in self.existing]
        new = [n for n in self.names if n not in self.existing]
        if new:
            parts.append(f"not created: {', '.join(new)}")
        if kept:
            parts.append(f"old contents kept: {', '.join(kept)}")
        return f"target untouched ({'; '.join(parts)}); the partial copy was dropped"


def _stopped(exc: BaseException, what: str) -> BaseException:
    """``exc`` with what happened to the target added to its message."""
    if isinstance(exc, DbsealError):
        return type(exc)(f"{exc.message}; {what}", hint=exc.hint)
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(f"interrupted; {what}")
    return exc


def _swapped_text(plan: Plan, why: str, bid: str) -> str:
    return (
        f"{why}; the new tables of {', '.join(plan.names)} are in place, other objects may be "
        f"missing, and the databases are marked as an incomplete restore of {bid}"
    )


def _roll_back(
    target: TargetDatabases[Any, Any], staging: Staging, plan: Plan, exc: BaseException
) -> NoReturn:
    try:
        target.rollback(staging)
        what = plan.untouched()
    except SwapIncomplete as late:
        what = _swapped_text(plan, str(late), staging.backup)
    except (DbsealError, KeyboardInterrupt):
        what = (
            "target untouched, but the partial copy in staging databases "
            f"{', '.join(staging.names.values())} could not be dropped (the next restore "
            "into these databases reports it; --replace removes it)"
        )
    raise _stopped(exc, what) from None


def apply_staged(
    backup: Applier,
    make_sink: Callable[[], Sink],
    selection: RestoreSelection,
    target: TargetDatabases[Any, Any],
    plan: Plan,
) -> tuple[int, RestoreFilter]:
    """Apply into staging databases, then swap them into the targets (all or nothing);
    returns the plaintext bytes and the filter used (what it renamed, disabled, kept)."""
    sink = make_sink()  # connected first: a login failure must not leave a ledger
    try:
        if plan.replace:
            target.discard(target.leftovers(plan.names))
        staging = target.begin(plan.names, backup.bid)
    except BaseException:
        sink.abort()
        raise
    try:
        byte_filter = selection.staged(backup.manifest, staging)
        total = backup.apply(sink, byte_filter)
        backup.reporter.event("restore.swap", databases=list(plan.names))
        target.commit(staging, plan.existing, plan.existing if plan.replace else [])
    except SwapIncomplete as exc:
        raise RestoreFailed(
            f"moving the restored databases into place failed: "
            f"{_swapped_text(plan, str(exc), backup.bid)}",
            hint=IncompleteRestoreFound.hint,
        ) from None
    except BaseException as exc:
        _roll_back(target, staging, plan, exc)
    if plan.replace and plan.existing:
        backup.reporter.event("restore.replaced", databases=list(plan.existing))
    return total, byte_filter


__all__ = [
    "Applier",
    "ByteFilter",
    "PlaintextScan",
    "RestoreFilter",
    "RestoreSelection",
    "Sink",
    "TargetDatabases",
    "apply_staged",
    "check_target",
    "outcome",
    "rename_outcome",
]
