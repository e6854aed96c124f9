"""How `dbseal list` and `show` present a backup's method, type and chain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbseal.catalog.chains import chain_ids, chain_problem, method_of, type_of


def chain_fields(lookup: Mapping[str, Mapping[str, Any]], m: Mapping[str, Any]) -> dict[str, Any]:
    """``method``, ``type``, ``parent``, ``chain`` (full first) and ``restorable``/``not_restorable``."""
    bid = str(m.get("id"))
    problem = chain_problem(lookup, bid) if type_of(m) == "incremental" else None
    return {
        "method": method_of(m),
        "type": type_of(m),
        "parent": m.get("parent"),
        "chain": chain_ids(lookup, bid),
        "restorable": problem is None and m.get("status") in ("ok", "warnings"),
        "not_restorable": problem,
    }


def list_suffix(row: Mapping[str, Any]) -> str:
    """What a `list` line adds after the databases (nothing for a logical backup)."""
    parts = []
    if row.get("method") == "physical":
        kind = f"physical {row.get('type')}"
        if row.get("type") == "incremental":
            kind += f" on {row.get('parent')} (chain of {len(row.get('chain') or [])})"
        parts.append(kind)
    if row.get("not_restorable"):
        parts.append(f"NOT RESTORABLE: {row['not_restorable']}")
    return ("  [" + "; ".join(parts) + "]") if parts else ""


def show_lines(fields: Mapping[str, Any], m: Mapping[str, Any]) -> list[str]:
    """The method/chain lines of `show` (none for a logical backup)."""
    if fields["method"] != "physical":
        return []
    lines = [
        f"method       physical {fields['type']} (tool {m.get('tool_version', '-')}); "
        f"LSN {m.get('from_lsn')} .. {m.get('to_lsn')}",
        f"chain        {' -> '.join(fields['chain'])}"
        + ("" if fields["restorable"] else f"  NOT RESTORABLE: {fields['not_restorable']}"),
    ]
    binlog = (m.get("physical") or {}).get("binlog")
    if binlog:
        lines.append(
            f"binlog       {binlog.get('file')}:{binlog.get('position')} gtid {binlog.get('gtid')}"
        )
    for t in m.get("table_engines") or []:
        lines.append(f"  table {t.get('database')}.{t.get('table')}: {t.get('engine')}")
    return lines


__all__ = ["chain_fields", "list_suffix", "show_lines"]
