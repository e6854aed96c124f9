"""`dbseal check --prometheus FILE`: a node_exporter textfile, replaced atomically.

Metric names follow Prometheus conventions: base units (seconds, bytes),
moments as ``*_timestamp_seconds`` (never ages, except the key's age), a HELP and
TYPE line per family, no sample timestamps (node_exporter skips files with them),
no backup ids as labels. A source with no good backup still has its series:
``dbseal_backup_last_success_timestamp_seconds`` is 0 then. Values that are not
known (no verification yet, no keyring key) are left out rather than invented.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dbseal.fsutil import atomic_write

FAMILIES = {
    "dbseal_backup_last_success_timestamp_seconds": "End time of the newest good backup (0: none).",
    "dbseal_backup_last_size_bytes": "Stored size of the newest good backup.",
    "dbseal_backup_last_duration_seconds": "How long the newest good backup took.",
    "dbseal_backups_failed_since_success": "Failed backups since the newest good one.",
    "dbseal_verify_last_success_timestamp_seconds": "Start of the newest successful verification.",
    "dbseal_verify_last_restore_duration_seconds": "Restore time of the newest restore test.",
    "dbseal_key_age_seconds": "Age of the keyring key version sealing new backups.",
    "dbseal_binlog_last_event_timestamp_seconds": "Time of the newest archived binlog event.",
    "dbseal_binlog_gaps": "Gaps in the archived binlogs (no point-in-time recovery across one).",
    "dbseal_check_status": "Result of a check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    "dbseal_repository_up": "Whether the repository could be read (1) or not (0).",
    "dbseal_check_run_timestamp_seconds": "When dbseal check wrote this file.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(v: float | int) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 2**53):
        return str(int(v))
    if math.isnan(v):
        return "NaN"
    return repr(float(v))


@dataclass
class Textfile:
    """Samples by family, rendered in :data:`FAMILIES` order."""

    samples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, family: str, labels: Mapping[str, str], value: float | int | None) -> None:
        if family not in FAMILIES:
            raise KeyError(family)
        if value is None:
            return
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        series = f"{family}{{{text}}}" if text else family
        self.samples.setdefault(family, []).append(f"{series} {_value(value)}")

    def render(self) -> str:
        out = []
        for family, help_text in FAMILIES.items():
            lines = self.samples.get(family)
            if not lines:
                continue
            out.append(f"# HELP {family} {help_text}")
            out.append(f"# TYPE {family} gauge")
            out.extend(lines)
        return "\n".join(out) + "\n"


def write_textfile(path: str, text: str) -> None:
    """Write ``path`` atomically: a temporary file in its directory, fsync, rename.

    Readers see the old file or the new one, never part of one; the temporary
    name does not end in ``.prom``, so node_exporter never reads it. Mode 0644:
    node_exporter usually runs as another user."""
    atomic_write(path, text.encode(), mode=0o644)


def lines_of(text: str) -> Iterable[str]:
    return (line for line in text.splitlines() if line and not line.startswith("#"))
