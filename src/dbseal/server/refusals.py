"""Refused connections, reported without letting one peer flood the log.

In each interval (10 s by default) the first ``per_reason`` refusals of one
address for one reason are reported as ``receiver.refused`` events, and at
most ``per_interval`` in all. The others are only counted; when the interval
is over, every address with refusals that were not reported gets one
``receiver.refused_summary`` event (``count`` refusals in all, ``reported``
of them shown above, ``reasons`` with their counts). At most ``max_named``
addresses are named; the rest share one summary whose peer is
``(N other addresses)``. Memory is bounded by ``max_tracked`` addresses.

The reason kind is the reason without its parenthesised detail, so
``connection closed during the TLS handshake (EOF ...)`` counts as one kind.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbseal.monitoring.reporter import Reporter

_OTHERS = "(other addresses)"


@dataclass
class _Tally:
    reasons: Counter[str] = field(default_factory=Counter)
    reported: int = 0


class RefusalLog:
    """Rate-limited ``receiver.refused`` events (see the module docstring)."""

    def __init__(
        self,
        reporter: Reporter,
        interval: float = 10.0,
        *,
        per_reason: int = 3,
        per_interval: int = 30,
        max_named: int = 20,
        max_tracked: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reporter, self.interval = reporter, interval
        self.per_reason, self.per_interval = per_reason, per_interval
        self.max_named, self.max_tracked = max_named, max_tracked
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._tallies: dict[str, _Tally] = {}
        self._reported = 0

    def refused(self, peer: str, host: str, reason: str, **fields: Any) -> None:
        """One refused connection from ``peer`` (``host:port``) whose address is ``host``."""
        self.tick()
        kind = reason.split(" (", 1)[0]
        with self._lock:
            if host not in self._tallies and len(self._tallies) >= self.max_tracked:
                host = _OTHERS
            tally = self._tallies.setdefault(host, _Tally())
            tally.reasons[kind] += 1
            show = tally.reasons[kind] <= self.per_reason and self._reported < self.per_interval
            if show:
                tally.reported += 1
                self._reported += 1
        if show:
            self.reporter.event("receiver.refused", peer=peer, reason=reason, **fields)

    def tick(self) -> None:
        """Report the summaries of the interval if it is over (the receiver calls this often)."""
        if self._clock() - self._start >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Report the summaries of the current interval now and start a new one."""
        with self._lock:
            tallies, self._tallies = self._tallies, {}
            self._reported, self._start = 0, self._clock()
        hidden = [(h, t) for h, t in tallies.items() if sum(t.reasons.values()) > t.reported]
        hidden.sort(key=lambda ht: -sum(ht[1].reasons.values()))
        named, rest = hidden[: self.max_named], hidden[self.max_named :]
        if rest:
            merged = _Tally()
            for _, t in rest:
                merged.reasons.update(t.reasons)
                merged.reported += t.reported
            named.append((f"({len(rest)} other addresses)", merged))
        for host, t in named:
            self.reporter.event(
                "receiver.refused_summary",
                peer=host,
                count=sum(t.reasons.values()),
                reported=t.reported,
                interval=self.interval,
                reasons=dict(t.reasons.most_common()),
            )
