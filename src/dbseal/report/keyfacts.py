"""Encryption and key lifecycle facts: who can open each backup today, and how keys changed.

Keyless, the key envelopes say which recipients and keyring key versions can open a
backup now; the manifests say which could when it was made (a difference is a rewrap,
dated by when the envelope was last written); the first backup sealed for a keyring
version dates its rotation (at the latest). With the keyring (its passphrase), the
versions' own creation, retirement and destruction dates and states are added, and so
which backups a retired or destroyed version no longer opens.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any

from dbseal.crypto.keyring import Keyring
from dbseal.report.collect import BackupRecord, parse_time
from dbseal.report.options import ReportOptions

KeyRef = tuple[str, str, int]  # keyring id (hex), key name, version
_UNKNOWN = {False: "unknown (no keyring)", True: "unknown (not in the keyring given)"}


def key_label(d: dict[str, Any]) -> str:
    """A short, keyless name for one stanza (what a person reads in the report)."""
    kind = d.get("type")
    if kind == "keyring" and "key" in d:
        return f"keyring {str(d.get('keyring_id', ''))[:8]} {d['key']}:{d.get('version')}"
    if kind == "x25519":
        r = str(d.get("recipient") or "?")
        return f"age {r[:12]}…{r[-6:]}" if len(r) > 20 else f"age {r}"
    if kind == "argon2id":
        return "passphrase"
    if kind == "awskms":
        return f"awskms {d.get('key_arn') or d.get('key')}"
    return str(kind)


def key_ref(d: dict[str, Any]) -> KeyRef | None:
    if d.get("type") == "keyring" and "key" in d and "version" in d:
        return (str(d.get("keyring_id")), str(d["key"]), int(d["version"]))
    return None


def has_escrow(keys: list[dict[str, Any]], opts: ReportOptions) -> bool:
    """An escrow recipient opens the backup besides its usual one (see ReportOptions.escrow)."""
    ages = {str(k.get("recipient")) for k in keys if k.get("type") == "x25519"}
    if opts.escrow:
        return bool(ages & set(opts.escrow))
    return bool(ages) and len(keys) >= 2


def key_states(ring: Keyring | None) -> dict[KeyRef, dict[str, Any]]:
    if ring is None:
        return {}
    out = {}
    for name, versions in ring.keys.items():
        for v in versions:
            out[(ring.keyring_id.hex(), name, v.version)] = {
                "state": v.state,
                "created": v.created,
                "changed": v.changed,
                "escrowed": v.escrowed,
            }
    return out


def encryption(
    recs: list[BackupRecord], opts: ReportOptions, states: dict[KeyRef, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per backup in the period."""
    rows = []
    for r in recs:
        then = [k for k in r.manifest.get("keys") or [] if isinstance(k, dict)]
        now = r.envelope_keys
        labels_then = sorted(key_label(k) for k in then)
        labels_now = sorted(key_label(k) for k in now) if now is not None else []
        withdrawn, openers, unknown = [], 0, 0
        for k in now or []:
            ref = key_ref(k)
            st = states.get(ref) if ref else None
            if ref is None or (st and st["state"] == "active"):
                openers += 1  # an age/passphrase/KMS recipient, or an active keyring version
            elif st is None:
                unknown += 1  # a keyring version the given keyring (if any) does not hold
            else:
                withdrawn.append({"key": key_label(k), "state": st["state"], "on": st["changed"]})
        openable: bool | None = True if openers else (None if unknown else False)
        rows.append(
            {
                "id": r.id,
                "source": r.source,
                "started": r.manifest.get("started"),
                "status": r.manifest.get("status"),
                "suite": r.suite,
                "codec": r.codec or r.manifest.get("codec"),
                "recipients": labels_now,
                "recipients_at_backup": labels_then,
                "key_versions": sorted(
                    f"{ref[1]}:{ref[2]}" for k in now or [] if (ref := key_ref(k))
                ),
                "rewrapped": now is not None and labels_now != labels_then,
                "envelope_written": r.envelope_written.isoformat() if r.envelope_written else None,
                "shredded": now is None and r.envelope_error is None,
                "envelope_error": r.envelope_error,
                "escrow": has_escrow(now or [], opts),
                "withdrawn_keys": withdrawn,
                "openable_today": openable,
            }
        )
    return rows


def _inferred_versions(recs: list[BackupRecord]) -> dict[KeyRef, dict[str, Any]]:
    """Keyring versions seen in manifests (at backup time) and envelopes (now)."""
    seen: dict[KeyRef, dict[str, Any]] = {}
    for r in recs:
        for where, keys in (
            ("manifest", r.manifest.get("keys") or []),
            ("envelope", r.envelope_keys or []),
        ):
            for k in keys:
                ref = key_ref(k) if isinstance(k, dict) else None
                if ref is None:
                    continue
                row = seen.setdefault(
                    ref, {"first_sealed": None, "last_sealed": None, "opens_now": 0}
                )
                if where == "envelope":
                    row["opens_now"] += 1
                elif r.started is not None:
                    when = r.started.isoformat()
                    row["first_sealed"] = min(filter(None, [row["first_sealed"], when]))
                    row["last_sealed"] = max(filter(None, [row["last_sealed"], when]))
    return seen


def lifecycle(
    all_recs: list[BackupRecord],
    opts: ReportOptions,
    states: dict[KeyRef, dict[str, Any]],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """Key versions (with ages), and the dated lifecycle events in the period."""
    seen = _inferred_versions(all_recs)
    refs = sorted(set(seen) | set(states))
    newest: dict[tuple[str, str], int] = {}
    for ring_id, name, ver in refs:
        st = states.get((ring_id, name, ver))
        if st is None or st["state"] == "active":
            newest[(ring_id, name)] = max(ver, newest.get((ring_id, name), 0))
    versions, timeline = [], []
    for ref in refs:
        ring_id, name, ver = ref
        st, use = states.get(ref), seen.get(ref, {})
        created = parse_time(st["created"]) if st else None
        since = created or parse_time(use.get("first_sealed"))
        age = (opts.until - since).total_seconds() / 86400 if since else None
        current = newest.get((ring_id, name)) == ver
        due = bool(current and age is not None and age > opts.rotation_days)
        versions.append(
            {
                "keyring_id": ring_id,
                "key": name,
                "version": ver,
                "state": st["state"] if st else _UNKNOWN[bool(states)],
                "created": st["created"] if st else None,
                "changed": st["changed"] if st else None,
                "escrowed": st["escrowed"] if st else None,
                "first_sealed": use.get("first_sealed"),
                "last_sealed": use.get("last_sealed"),
                "backups_it_opens": use.get("opens_now", 0),
                "age_days": round(age, 1) if age is not None else None,
                "current": current,
                "rotation_due": due,
            }
        )
        if ver > 1 and since is not None:
            how = "keyring" if created else "first backup sealed for it"
            timeline.append(_event(since, "rotation", f"{name}:{ver}", f"new version ({how})"))
        if st and st["state"] in ("retired", "destroyed") and (when := parse_time(st["changed"])):
            timeline.append(_event(when, st["state"], f"{name}:{ver}", "key material erased"))
    timeline += _rewraps(all_recs)
    timeline += [
        e
        for e in events
        if e["kind"] in ("rotation", "rewrap", "retired", "destroyed", "reencrypt", "shred")
    ]
    timeline = [e for e in timeline if _within(e["date"], opts)]
    timeline.sort(key=lambda e: (e["date"], e["kind"]))
    return {"versions": versions, "events": timeline, "from_keyring": bool(states)}


def _within(date: str, opts: ReportOptions) -> bool:
    when = parse_time(date)
    return when is not None and opts.since <= when < opts.until


def _event(
    when: datetime.datetime, kind: str, key: str, detail: str, via: str = "repository"
) -> dict[str, Any]:
    return {"date": when.isoformat(), "kind": kind, "key": key, "detail": detail, "via": via}


def _rewraps(recs: list[BackupRecord]) -> list[dict[str, Any]]:
    """Envelopes whose recipients differ from the manifest's, grouped by the day they were written."""
    groups: dict[tuple[str, str, str], list[BackupRecord]] = defaultdict(list)
    for r in recs:
        if r.envelope_keys is None or r.envelope_written is None:
            continue
        then = {key_label(k) for k in r.manifest.get("keys") or [] if isinstance(k, dict)}
        now = {key_label(k) for k in r.envelope_keys}
        if then != now:
            day = r.envelope_written.date().isoformat()
            groups[(day, ", ".join(sorted(now - then)), ", ".join(sorted(then - now)))].append(r)
    out = []
    for (day, added, removed), members in sorted(groups.items()):
        when = min(m.envelope_written for m in members if m.envelope_written)
        detail = (
            f"{len(members)} backup(s) rewrapped"
            + (f"; added {added}" if added else "")
            + (f"; removed {removed}" if removed else "")
        )
        out.append(_event(when, "rewrap", added or removed, detail) | {"day": day})
    return out


def shredding(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Backups a withdrawn key (or a removed envelope) affects, and whether another key still opens them."""
    out = []
    for row in rows:
        if row["shredded"] or row["withdrawn_keys"]:
            out.append(
                {
                    "id": row["id"],
                    "source": row["source"],
                    "started": row["started"],
                    "withdrawn_keys": row["withdrawn_keys"],
                    "shredded": row["shredded"],
                    "openable_today": row["openable_today"],
                }
            )
    return out
