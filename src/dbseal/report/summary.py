"""The plain-language summary at the top of the report: what is fine, what needs attention.

Each part looks at one section's facts and adds lines to the three lists.
"""

from __future__ import annotations

from typing import Any

Lines = dict[str, list[str]]  # "fine", "attention", "notes"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.0f} h" if seconds < 3 * 86400 else f"{seconds / 86400:.0f} days"


def _sources(f: dict[str, Any], out: Lines) -> None:
    max_age = f["objectives"]["max_age_s"]
    sources = f["sources"]
    stale = [
        s for s in sources if s["newest_good_age_s"] is None or s["newest_good_age_s"] > max_age
    ]
    for s in stale:
        age = s["newest_good_age_s"]
        out["attention"].append(
            f"source {s['name']}: no good backup in the period"
            if age is None
            else f"source {s['name']} is stale: its newest good backup is {_hours(age)} old "
            f"(objective {_hours(max_age)})"
        )
    if not sources:
        out["attention"].append("no backup in the period")
    if sources and not stale:
        out["fine"].append(
            f"every source ({len(sources)}) has a good backup newer than {_hours(max_age)}"
        )
    for s in sources:
        past = [g for g in s["gaps"] if not g["ongoing"]]
        if past:
            out["attention"].append(
                f"source {s['name']}: {len(past)} gap(s) longer than {_hours(max_age)} between good backups"
            )
        if s["failed"]:
            out["attention"].append(
                f"source {s['name']}: {s['failed']} failed backup(s) in the period"
            )
    damaged = f["repository"]["damaged_manifests"]
    if damaged:
        out["attention"].append(
            f"{len(damaged)} manifest(s) are damaged and could not be read: {', '.join(damaged[:5])}"
        )


def _encryption(f: dict[str, Any], out: Lines) -> None:
    enc = f["encryption"]
    sealed = [b for b in enc if b["suite"]]
    if enc and len(sealed) == len(enc):
        suites = sorted({b["suite"] for b in sealed})
        out["fine"].append(
            f"all {len(enc)} backups in the period are encrypted ({'; '.join(suites)})"
        )
    elif enc:
        out["attention"].append(
            f"{len(enc) - len(sealed)} backup(s) have no readable data header (see `dbseal verify`)"
        )
    no_escrow = [b for b in enc if not b["escrow"] and not b["shredded"]]
    if enc and not no_escrow:
        out["fine"].append("every backup can also be opened by an escrow recipient")
    elif no_escrow:
        out["attention"].append(f"{len(no_escrow)} backup(s) have no escrow recipient")
    gone = [b for b in f["shredding"] if b["openable_today"] is False]
    if gone:
        out["notes"].append(
            f"{len(gone)} backup(s) can no longer be opened (crypto-shredded or their only key withdrawn)"
        )


def _keys(f: dict[str, Any], out: Lines) -> None:
    period = f["objectives"]["rotation_days"]
    due = [k for k in f["keys"]["versions"] if k["rotation_due"]]
    for k in due:
        out["attention"].append(
            f"key {k['key']}:{k['version']} is overdue for rotation ({k['age_days']:.0f} days, period {period} days)"
        )
    if f["keys"]["versions"] and not due:
        out["fine"].append(f"no key in use is older than the rotation period ({period} days)")


def _restores(f: dict[str, Any], out: Lines) -> None:
    failed = [v for v in f["verifications"] if v["result"] != "ok"]
    if failed:
        out["attention"].append(f"{len(failed)} verification run(s) failed in the period")
    rto = f["objectives"]["rto_s"]
    for r in f["restore"]:
        if not r["restore_runs"]:
            out["attention"].append(
                f"source {r['source']}: no restore test (restore-level verify) in the period"
            )
        elif r["over_rto"]:
            out["attention"].append(
                f"source {r['source']}: {r['over_rto']} restore test(s) took longer than the objective ({rto:.0f} s)"
            )
    tested = [r for r in f["restore"] if r["restore_runs"]]
    if tested and len(tested) == len(f["restore"]):
        within = rto and not any(r["over_rto"] for r in tested)
        out["fine"].append(
            "every source had a restore test in the period"
            + (" within the objective" if within else "")
        )


def summarize(f: dict[str, Any]) -> Lines:
    out: Lines = {"fine": [], "attention": [], "notes": []}
    for part in (_sources, _encryption, _keys, _restores):
        part(f, out)
    if f["access"]["keyless"]:
        out["notes"].append(
            "built keyless: key states and dates come from the repository only "
            "(see 'What a key would add')"
        )
    return out
