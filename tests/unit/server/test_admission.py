"""Pending handshakes (the gate) and the refusal log, with a clock the test moves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from dbseal.server.admission import Deadlines, HandshakeGate, Refused
from dbseal.server.refusals import RefusalLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def event(self, kind: str, **fields: Any) -> None:
        self.items.append((kind, fields))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for k, f in self.items if k == kind]


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for a, b in made:
        a.close()
        b.close()


def _pair(made: list[tuple[socket.socket, socket.socket]]) -> socket.socket:
    """The server end of a connected pair; the client end sees EOF once the gate cuts it."""
    server, client = socket.socketpair()
    client.settimeout(5)
    made.append((server, client))
    return server


def _cut(made: list[tuple[socket.socket, socket.socket]], i: int) -> bool:
    return made[i][1].recv(1) == b""


def test_the_per_address_limit_refuses_at_once(pairs: Any) -> None:
    gate = HandshakeGate(total=10, per_address=2, timeout=10)
    gate.admit(_pair(pairs), "a")
    gate.admit(_pair(pairs), "a")
    with pytest.raises(Refused, match="too many pending handshakes from a"):
        gate.admit(_pair(pairs), "a")
    gate.admit(_pair(pairs), "b")  # another address is not affected
    assert len(gate) == 3


def test_a_full_gate_cuts_the_oldest_and_frees_its_address(pairs: Any) -> None:
    gate = HandshakeGate(total=2, per_address=1, timeout=10)
    first = gate.admit(_pair(pairs), "a")
    gate.admit(_pair(pairs), "b")
    gate.admit(_pair(pairs), "c")
    assert first.cut and "make room" in first.cut and _cut(pairs, 0)
    assert len(gate) == 2
    gate.admit(_pair(pairs), "a")  # "a" has no pending handshake any more


def test_handshakes_past_the_deadline_are_cut_and_done_ones_never(pairs: Any) -> None:
    clock = Clock()
    gate = HandshakeGate(total=10, per_address=10, timeout=10, clock=clock)
    done = gate.admit(_pair(pairs), "a")
    late = gate.admit(_pair(pairs), "a")
    gate.done(done)
    clock.now += 9.9
    assert gate.expire() == 0
    clock.now += 0.2
    assert gate.expire() == 1
    assert late.cut == "no TLS handshake within 10 s" and _cut(pairs, 1)
    assert done.cut is None
    pairs[0][1].settimeout(0.2)
    with pytest.raises(TimeoutError):  # the finished one was left alone
        pairs[0][1].recv(1)


def test_refusals_are_shown_a_few_times_then_summarised() -> None:
    clock, events = Clock(), Events()
    log = RefusalLog(events, 10, per_reason=3, per_interval=30, clock=clock)
    for i in range(1000):
        log.refused(f"10.0.0.1:{i}", "10.0.0.1", "connection closed during the TLS handshake (EOF)")
    for i in range(5):
        log.refused(f"10.0.0.1:{i}", "10.0.0.1", "no client certificate")
    log.refused("10.0.0.2:1", "10.0.0.2", "no client certificate")
    assert len(events.of("receiver.refused")) == 3 + 3 + 1
    assert events.of("receiver.refused_summary") == []
    clock.now += 10
    log.tick()
    (summary,) = events.of("receiver.refused_summary")  # 10.0.0.2 had nothing hidden
    assert summary["peer"] == "10.0.0.1" and summary["count"] == 1005
    assert summary["reported"] == 6
    assert summary["reasons"] == {
        "connection closed during the TLS handshake": 1000,
        "no client certificate": 5,
    }
    log.refused("10.0.0.1:9", "10.0.0.1", "no client certificate")  # a new interval
    assert len(events.of("receiver.refused")) == 8


def test_many_addresses_are_capped_in_lines_and_memory() -> None:
    clock, events = Clock(), Events()
    log = RefusalLog(events, 10, per_interval=30, max_named=20, max_tracked=100, clock=clock)
    for i in range(5000):
        host = f"10.0.{i // 250}.{i % 250}"
        log.refused(f"{host}:1", host, "no client certificate")
        log.refused(f"{host}:2", host, "no client certificate")
    assert len(events.of("receiver.refused")) == 30
    log.flush()
    summaries = events.of("receiver.refused_summary")
    assert len(summaries) == 21
    assert summaries[-1]["peer"].endswith("other addresses)")
    # 15 addresses were shown in full (2 lines each); every other refusal is counted.
    assert sum(s["count"] for s in summaries) == 10000 - 30


def test_deadlines_cut_only_blocks_still_running(pairs: Any) -> None:
    clock = Clock()
    deadlines = Deadlines(clock=clock)
    with deadlines.watch(_pair(pairs), 5):
        pass
    with deadlines.watch(_pair(pairs), 5):
        clock.now += 5
        assert deadlines.expire() == 1
        assert _cut(pairs, 1)
    assert deadlines.expire() == 0
    pairs[0][1].settimeout(0.2)
    with pytest.raises(TimeoutError):  # its block had ended: left alone
        pairs[0][1].recv(1)
