"""How `dbseal check` sees a source's archived binary logs (point-in-time recovery).

`dbseal check` asks a :class:`BinlogArchive` how far a source's archived binlogs
lag behind and whether they have gaps. :class:`ArchivedBinlogs` reads the segment
records `dbseal binlog archive` writes (no key, no server). A source with no
archived segments gets the "not configured" state, which carries no numbers (no
lag, no gap count), so nothing fake reaches a dashboard.

A gap is CRITICAL (no recovery across it). Lag is the age of the newest archived
event, so it also grows on an idle server: it is reported (and exported as a
timestamp) but judged only against ``binlog_lag_warning``/``binlog_lag_critical``
when those are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dbseal.monitoring.status import Status

if TYPE_CHECKING:
    from dbseal.storage import Backend


@dataclass(frozen=True)
class BinlogState:
    configured: bool = False
    reason: str = "no archived binlogs (point-in-time recovery needs `dbseal binlog archive`)"
    status: Status = Status.OK
    lag_s: float | None = None  # age of the newest archived event
    last_event_ts: float | None = None  # when the newest archived event happened (epoch s)
    gaps: list[str] = field(default_factory=list)  # missing segments, e.g. "mysql-bin.000042"


class BinlogArchive(Protocol):
    """A source's archived binlogs, as `dbseal check` sees them."""

    def state(self, source: str, now: float) -> BinlogState: ...


class NotConfigured:
    def state(self, source: str, now: float) -> BinlogState:
        return BinlogState()


class ArchivedBinlogs:
    """The segment records in a repository (catalog/segments.py), read once per check.

    A backup source ``HOST:PORT/DB`` is archived as ``HOST:PORT`` (a server's binlogs
    cover all its databases), so that name is looked up when the exact one is absent.
    """

    def __init__(self, states: dict[str, dict[str, Any]]) -> None:
        self._states = states

    @classmethod
    def read(cls, backend: Backend) -> ArchivedBinlogs:
        from dbseal.catalog.segments import lag_and_gaps

        return cls(lag_and_gaps(backend))

    def state(self, source: str, now: float) -> BinlogState:
        st = self._states.get(source) or self._states.get(source.split("/", 1)[0])
        if not st or st.get("archived_to") is None:
            return BinlogState()
        to = st["archived_to"]
        lag = st.get("lag_s")
        gaps = [str(g) for g in st.get("gaps") or []]
        where = f"{to.get('file')}:{to.get('position')}"
        if to.get("gtid"):
            where += f" (GTID {to['gtid']})"
        if gaps:
            reason = f"{len(gaps)} gap(s) in the archived binlogs: {gaps[0]}"
        else:
            ago = f", newest event {lag:.0f}s ago" if lag is not None else ""
            reason = f"archived up to {where}{ago}"
        return BinlogState(
            configured=True,
            reason=reason,
            lag_s=lag,
            last_event_ts=None if lag is None else round(now - lag, 3),
            gaps=gaps,
        )
