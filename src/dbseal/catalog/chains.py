"""Backup chains: a full backup and the incrementals taken on top of it (engine-agnostic).

Manifest fields (written by ``ops.backup`` from what the engine's run reports):

- ``method``: ``logical`` (the default when absent) or ``physical``;
- ``type``: ``full`` or ``incremental`` (absent: ``full``);
- ``parent``: the id of the backup an incremental was taken on top of (None for a full);
- ``from_lsn`` / ``to_lsn``: the log positions (integers) the backup covers; an
  incremental's ``from_lsn`` must equal its parent's ``to_lsn``, else the chain has a gap.

:func:`chain_of` reads the manifests only; whoever restores authenticates each member
(``ops.restore.unlock_backup``) before trusting its LSNs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dbseal.catalog import manifest as mf
from dbseal.catalog.source_names import source_name
from dbseal.errors import BackupNotFound, ChainBroken

FULL, INCREMENTAL = "full", "incremental"
MAX_CHAIN = 10_000  # a longer chain is a loop in damaged manifests


class ManifestSource(Protocol):
    """What chains read of a repository (``catalog.repository.Repository``)."""

    def manifest(self, bid: str) -> dict[str, Any]: ...
    def manifests(self) -> list[dict[str, Any]]: ...


def method_of(m: Mapping[str, Any]) -> str:
    return str(m.get("method") or "logical")


def type_of(m: Mapping[str, Any]) -> str:
    return str(m.get("type") or FULL)


def _lsn(m: Mapping[str, Any], key: str) -> int | None:
    value = m.get(key)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _member_problem(m: Mapping[str, Any], role: str) -> str | None:
    bid = m.get("id", "?")
    if m.get("status") not in mf.GOOD_STATUSES:
        return f"{role} {bid} is {m.get('status', 'damaged')}"
    if m.get("data_kept", True) is False:
        return f"{role} {bid} has no data"
    return None


def _link_problem(child: Mapping[str, Any], parent: Mapping[str, Any]) -> str | None:
    want, got = _lsn(parent, "to_lsn"), _lsn(child, "from_lsn")
    if want is None or got is None or want != got:
        return (
            f"incremental {child.get('id')} starts at LSN {got} but its parent "
            f"{parent.get('id')} ends at LSN {want} (an LSN gap)"
        )
    if method_of(child) != method_of(parent):
        return f"incremental {child.get('id')} and its parent {parent.get('id')} differ in method"
    return None


def walk_chain(lookup: Mapping[str, Mapping[str, Any]], bid: str) -> list[Mapping[str, Any]]:
    """The chain ending at ``bid`` from manifests already read (``lookup``: id -> manifest),
    full first; raises ChainBroken naming the first missing, failed or gapped member."""
    if bid not in lookup:
        raise BackupNotFound(f"no backup {bid!r} in the repository")
    chain = [lookup[bid]]
    while type_of(chain[-1]) == INCREMENTAL:
        child = chain[-1]
        role = "backup" if len(chain) == 1 else "chain member"
        if (problem := _member_problem(child, role)) is not None:
            raise ChainBroken(f"backup {bid} cannot be restored: {problem}")
        parent_id = child.get("parent")
        if not parent_id:
            raise ChainBroken(
                f"backup {bid} cannot be restored: incremental {child.get('id')} names no parent"
            )
        if parent_id not in lookup or len(chain) > MAX_CHAIN:
            raise ChainBroken(
                f"backup {bid} cannot be restored: its chain member {parent_id} "
                f"(parent of {child.get('id')}) is missing from the repository"
            )
        parent = lookup[str(parent_id)]
        if (problem := _member_problem(parent, "chain member")) is not None or (
            problem := _link_problem(child, parent)
        ) is not None:
            raise ChainBroken(f"backup {bid} cannot be restored: {problem}")
        chain.append(parent)
    if len(chain) > 1 and (problem := _member_problem(chain[-1], "chain member")) is not None:
        raise ChainBroken(f"backup {bid} cannot be restored: {problem}")
    return list(reversed(chain))


def _lookup(repo: ManifestSource) -> dict[str, Mapping[str, Any]]:
    return {str(m["id"]): m for m in repo.manifests() if "id" in m}


def chain_of(repo: ManifestSource, bid: str) -> list[dict[str, Any]]:
    """``[full, inc1, ..., bid]`` (``[bid]`` for a full or logical backup); raises
    ChainBroken naming the missing or failed member, or the LSN gap."""
    return [dict(m) for m in walk_chain(_lookup(repo), bid)]


def chain_problem(lookup: Mapping[str, Mapping[str, Any]], bid: str) -> str | None:
    """Why backup ``bid`` cannot be restored as a chain (None: it can, or it is no chain)."""
    try:
        walk_chain(lookup, bid)
    except ChainBroken as exc:
        return exc.message.partition(": ")[2] or exc.message
    except BackupNotFound as exc:
        return exc.message
    return None


def chain_ids(lookup: Mapping[str, Mapping[str, Any]], bid: str) -> list[str]:
    """The ids of the chain ending at ``bid`` as far as it can be followed (for display)."""
    out, seen = [bid], {bid}
    m = lookup.get(bid)
    while m is not None and type_of(m) == INCREMENTAL and m.get("parent"):
        parent = str(m["parent"])
        if parent in seen:
            break
        out.append(parent)
        seen.add(parent)
        m = lookup.get(parent)
    return list(reversed(out))


def newest_base(
    repo: ManifestSource, source: str, method: str = "physical"
) -> dict[str, Any] | None:
    """The newest good backup of ``source`` with ``method`` whose chain is whole (the
    default base of an incremental), or None."""
    lookup = _lookup(repo)
    good = [
        m
        for m in lookup.values()
        if method_of(m) == method
        and source_name(m) == source
        and m.get("status") in mf.GOOD_STATUSES
        and m.get("data_kept", True) is not False
        and _lsn(m, "to_lsn") is not None
    ]
    good.sort(key=lambda m: (str(m.get("started", "")), str(m["id"])), reverse=True)
    for m in good:
        if chain_problem(lookup, str(m["id"])) is None:
            return dict(m)
    return None


__all__ = [
    "FULL",
    "INCREMENTAL",
    "chain_ids",
    "chain_of",
    "chain_problem",
    "method_of",
    "newest_base",
    "type_of",
    "walk_chain",
]
