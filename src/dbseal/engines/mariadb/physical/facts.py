"""What a physical backup records in its manifest, read from the small files in its stream.

- checkpoints (``xtrabackup_checkpoints``, ``mariadb_backup_checkpoints`` since 11.1):
  ``backup_type``, ``from_lsn``, ``to_lsn``, ``last_lsn``;
- the binlog position (``xtrabackup_binlog_info`` / ``mariadb_backup_binlog_info``):
  ``FILE<TAB>POSITION[<TAB>GTID]``; Galera's (``*_galera_info``): ``UUID:SEQNO``;
- ``backup-my.cnf``: the InnoDB settings prepare needs, and the encryption plugin settings;
- ``xtrabackup_info``: tool and server versions.
"""

from __future__ import annotations

from typing import Any

from dbseal.engines.mariadb.physical.mbstream import (
    BACKUP_CNF,
    BACKUP_INFO,
    BINLOG_INFO,
    CHECKPOINTS,
    GALERA_INFO,
    MbstreamScanner,
    parse_kv,
)
from dbseal.engines.mariadb.physical.preflight import BackupTool

_ENCRYPTION_WORDS = ("encrypt", "key_management", "plugin_load", "plugin-load", "plugin_dir")


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def binlog_position(text: bytes | None) -> dict[str, Any] | None:
    if not text or not text.strip():
        return None
    parts = text.decode("utf-8", "replace").strip().split("\t")
    return {
        "file": parts[0],
        "position": _int(parts[1]) if len(parts) > 1 else None,
        "gtid": parts[2] if len(parts) > 2 and parts[2] else None,
    }


def galera_position(text: bytes | None) -> dict[str, Any] | None:
    if not text or not text.strip():
        return None
    line = text.decode("utf-8", "replace").strip().splitlines()[0]
    uuid, _, seqno = line.partition(":")
    return {"uuid": uuid, "seqno": _int(seqno.split(",")[0]), "raw": line}


def encryption_settings(cnf: dict[str, str]) -> dict[str, str]:
    """The key-management plugin settings of ``backup-my.cnf`` (no key material: paths)."""
    return {k: v for k, v in cnf.items() if any(w in k.lower() for w in _ENCRYPTION_WORDS)}


def from_stream(
    scan: MbstreamScanner, tool: BackupTool, server_version: str, parent: str | None
) -> dict[str, Any]:
    checkpoints = parse_kv(scan.file(*CHECKPOINTS))
    cnf_text = scan.file(BACKUP_CNF)
    cnf = parse_kv(cnf_text)
    info = parse_kv(scan.file(*BACKUP_INFO))
    kind = checkpoints.get("backup_type", "")
    return {
        "type": "incremental" if kind == "incremental" or parent else "full",
        "parent": parent,
        "from_lsn": _int(checkpoints.get("from_lsn")),
        "to_lsn": _int(checkpoints.get("to_lsn")),
        "last_lsn": _int(checkpoints.get("last_lsn")),
        "checkpoints": checkpoints,
        "tool": tool.path,
        "tool_version": info.get("tool_version") or tool.version_text,
        "server_version": info.get("server_version") or server_version,
        "binlog": binlog_position(scan.file(*BINLOG_INFO)),
        "galera": galera_position(scan.file(*GALERA_INFO)),
        "encryption": encryption_settings(cnf),
        "backup_my_cnf": (cnf_text or b"").decode("utf-8", "replace"),
        "format": "mbstream",
    }


def check_lsns(physical: dict[str, Any], incremental_lsn: int | None) -> list[str]:
    """An incremental must start at its parent's end; any backup must end after it starts."""
    out = []
    start, end = physical.get("from_lsn"), physical.get("to_lsn")
    if start is None or end is None:
        return ["the checkpoints file in the stream holds no from_lsn/to_lsn"]
    if incremental_lsn is not None and start != incremental_lsn:
        out.append(
            f"the incremental starts at LSN {start}, not at its parent's end {incremental_lsn}"
        )
    if incremental_lsn is None and start != 0:
        out.append(f"a full backup must start at LSN 0, this one starts at {start}")
    if end < start:
        out.append(f"the backup ends at LSN {end}, before its start {start}")
    return out


def table_changes(before: list[dict[str, str]], after: list[dict[str, str]]) -> list[str]:
    """A warning when tables were created, dropped or changed engine during the backup."""
    was = {(t["database"], t["table"]): t["engine"] for t in before}
    now = {(t["database"], t["table"]): t["engine"] for t in after}
    created = sorted(set(now) - set(was))
    dropped = sorted(set(was) - set(now))
    changed = sorted(k for k in set(was) & set(now) if was[k] != now[k])
    parts = []
    for label, keys in (("created", created), ("dropped", dropped), ("changed engine", changed)):
        if keys:
            names = ", ".join(f"{d}.{t}" for d, t in keys[:5])
            parts.append(f"{label}: {names}{' ...' if len(keys) > 5 else ''}")
    if not parts:
        return []
    return [f"tables changed while the backup ran ({'; '.join(parts)})"]


__all__ = ["check_lsns", "encryption_settings", "from_stream", "table_changes"]
