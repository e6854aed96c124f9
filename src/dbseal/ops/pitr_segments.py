"""Point-in-time recovery, after the plan: authenticate every segment of a
:class:`~dbseal.ops.pitr.PitrPlan` into a 0700 scratch directory (record MAC, chunk MACs,
plaintext SHA-256, files reassembled), find the exact stop for the target, and list the
statements the replay's rename cannot follow (:func:`ddl_in_range`)."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository
from dbseal.catalog.segments import KIND, Segment, iso
from dbseal.crypto.recipients import Identity
from dbseal.engines.mariadb import binlog_events as be
from dbseal.errors import CorruptedData, PitrTargetUnavailable
from dbseal.ops.pitr import FileChain, PitrPlan
from dbseal.ops.seal import open_sealed_with_key
from dbseal.storage import Handle


def authenticate_segments(
    repo: Repository, identities: Sequence[Identity], plan: PitrPlan, scratch: Path
) -> None:
    """Decrypt every segment of the plan into ``scratch`` (reassembled files), check each."""
    plan.scratch = scratch
    for f in plan.files:
        path = scratch / f"{len(plan.paths):04d}-{f.name}"
        with path.open("wb") as out:
            expect = 0
            for seg in f.segments:
                if seg.start != expect:
                    raise CorruptedData(f"archived segments of {f.name} do not join at {expect}")
                _unseal_segment(repo, identities, seg, out)
                expect = seg.end
        plan.paths.append(path)
    _resolve_stop(plan)


def _unseal_segment(
    repo: Repository, identities: Sequence[Identity], seg: Segment, out: Any
) -> None:
    with repo.backend.open(Handle(KIND, seg.object)) as fh:
        opened = open_sealed_with_key(fh, identities)
        doc = seg.to_json()
        key = mf.manifest_key(opened.data_key.reveal(), opened.header.file_id)
        mf.verify(doc, key, f"binlog segment record {seg.file}:{seg.start}")
        if opened.header.file_id.hex() != seg.file_id:
            raise CorruptedData(
                f"binlog segment {seg.file}:{seg.start} does not belong to its record"
            )
        h, n = hashlib.sha256(), 0
        for piece in opened.plaintext:
            h.update(piece)
            n += len(piece)
            out.write(piece)
    if n != seg.end - seg.start or h.hexdigest() != seg.plaintext_sha256:
        raise CorruptedData(f"binlog segment {seg.file}:{seg.start} differs from its record")


def _resolve_stop(plan: PitrPlan) -> None:
    t = plan.target
    for i, (f, path) in enumerate(zip(plan.files, plan.paths, strict=True)):
        start = plan.start[1] if i == 0 else 0
        with path.open("rb") as fh:
            if _stop_in_file(plan, i, f, fh, start):
                return
    if t.kind == "gtid":
        raise PitrTargetUnavailable(
            f"GTID {t.gtid} is not among the archived transactions after the base"
        )
    plan.stop = (plan.files[-1].name, plan.files[-1].end)  # all of it: the target is later


def _stop_in_file(plan: PitrPlan, i: int, f: FileChain, fh: Any, start: int) -> bool:
    """Count the transactions of file ``i`` to apply; True (``plan.stop`` set) at the target."""
    t = plan.target
    for tx in be.transactions(e for e in be.scan(fh) if e.start >= start):
        stop_here = (
            t.kind == "time" and t.time is not None and tx.timestamp >= t.time.timestamp()
        ) or (t.kind == "position" and f.name == t.file and t.pos is not None and tx.end > t.pos)
        if stop_here:
            plan.stop = (f.name, tx.start)
            del plan.files[i + 1 :], plan.paths[i + 1 :]
            return True
        info = {"file": f.name, "position": tx.start, "gtid": tx.gtid, "time": iso(tx.timestamp)}
        plan.first = plan.first or info
        plan.last = info
        plan.applied += 1
        if t.kind == "gtid" and tx.gtid == t.gtid:
            plan.stop = (f.name, tx.end)
            del plan.files[i + 1 :], plan.paths[i + 1 :]
            return True
    return False


def remove_scratch(plan: PitrPlan) -> None:
    if plan.scratch is not None:
        shutil.rmtree(plan.scratch, ignore_errors=True)


def ddl_in_range(plan: PitrPlan, databases: Sequence[str]) -> list[str]:
    """Statements in the replay range that the rename cannot follow: DDL run in one of
    ``databases``, and any statement naming one (``shop.t``). The replay renames databases
    in row events and ``USE`` only; a statement-logged DML under ``USE shop`` is fine."""
    found: list[str] = []
    names = [d.encode() for d in databases]
    qualified = [
        re.compile(rb"(?<![\w$`])(?:`" + re.escape(n) + rb"`|" + re.escape(n) + rb")\s*\.")
        for n in names
    ]
    for i, (f, path) in enumerate(zip(plan.files, plan.paths, strict=True)):
        start = plan.start[1] if i == 0 else 0
        stop = plan.stop[1] if plan.stop is not None and i == len(plan.files) - 1 else None
        with path.open("rb") as fh:
            for ev in be.scan(fh):
                if ev.start < start or (stop is not None and ev.start >= stop):
                    continue
                db, text = be.query_parts(ev)
                if text is None or text.upper().split(b" ", 1)[0] in be.TX_WORDS:
                    continue
                word = text.upper().split(None, 1)[0] if text.strip() else b""
                if (word in be.DDL_WORDS and db in names) or any(q.search(text) for q in qualified):
                    found.append(f"{f.name}:{ev.start} {text[:60].decode('utf-8', 'replace')}")
    return found
