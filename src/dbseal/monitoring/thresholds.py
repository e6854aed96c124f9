"""What `dbseal check` calls healthy: thresholds in seconds, with documented defaults.

The defaults fit a daily backup and a weekly verification: one missed night is a
WARNING (26 h), two are CRITICAL (50 h); a verification older than 8 days is a
WARNING. No recovery-time objective and no escrow requirement unless configured.
Key rotation defaults to the repository's ``max_key_age_days`` policy (365 days).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class Thresholds:
    max_age_warning_s: float = 26 * HOUR
    max_age_critical_s: float = 50 * HOUR
    verify_max_age_s: float = 8 * DAY
    rto_s: float | None = None
    key_rotation_s: float | None = None  # None: the repository policy's max_key_age_days
    failed_critical: int = 3  # failed backups since the last good one; 1 is a WARNING
    require_escrow: bool = False
    escrow_recipients: tuple[str, ...] = ()  # empty: any age1... (X25519) recipient counts
    escrow_within_s: float = 7 * DAY

    def replace(self, **changes: object) -> Thresholds:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        doc = dataclasses.asdict(self)
        doc["escrow_recipients"] = list(self.escrow_recipients)
        return doc


DEFAULT = Thresholds()
