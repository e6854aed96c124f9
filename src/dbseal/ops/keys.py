"""Key lifecycle: rotate, status, retire, destroy, change the keyring passphrase, escrow.

Which backups depend on which key is read from the backups' key envelopes
(the truth), not from manifests: after a rewrap the envelope changes. Backups
still running are read from their in-flight announcements (catalog/inflight.py).

Every change goes through :func:`update_keyring`: it takes the keyring's lock,
re-reads the keyring under it, applies the change and saves, so concurrent
commands never lose each other's changes (crypto/keyring_lock.py).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import struct
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from dbseal.catalog.inflight import users_of
from dbseal.catalog.repository import Repository, envelope_handle
from dbseal.crypto.keyring import STANZA_TYPE as KEYRING_STANZA
from dbseal.crypto.keyring import Keyring, KeyVersion
from dbseal.crypto.keyring_lock import keyring_lock
from dbseal.crypto.secret import Secret
from dbseal.errors import DbsealError, KeyInUse, KeyringError, PolicyViolation, UsageError
from dbseal.format.envelope import parse_envelope

KeyRef = tuple[str, str, int]  # keyring id (hex), key name, version
T = TypeVar("T")


def update_keyring(
    directory: str,
    passphrase: Secret,
    change: Callable[[Keyring], T],
    new_passphrase: Secret | None = None,
) -> T:
    """Apply ``change`` to the current keyring under its lock, then save it (atomically)."""
    with keyring_lock(directory):
        ring = Keyring.open(directory, passphrase)
        out = change(ring)
        ring.save(new_passphrase or passphrase)
        return out


def check_not_in_flight(ring: Keyring, name: str, version: int, repo: Repository) -> None:
    """KeyInUse if a backup running into ``repo`` seals for ``name:version``."""
    running = users_of(repo.backend, (ring.keyring_id.hex(), name, version))
    if running:
        raise KeyInUse(
            f"key {name}:{version} is in use by {running[0].describe()}"
            + (f" and {len(running) - 1} more running backup(s)" if len(running) > 1 else "")
            + f" in {repo.backend.location}"
        )


def key_dependencies(repo: Repository) -> dict[KeyRef, list[str]]:
    """For every keyring key version: the backups whose envelope has a stanza for it."""
    deps: dict[KeyRef, list[str]] = defaultdict(list)
    for bid in repo.backup_ids():
        try:
            env = parse_envelope(repo.backend.get(envelope_handle(bid)))
        except DbsealError:
            continue  # a shredded or damaged backup depends on nothing any more
        for s in env.stanzas:
            if s.type == KEYRING_STANZA and len(s.args) == 4 and len(s.args[2]) == 4:
                ref = (
                    s.args[0].hex(),
                    s.args[1].decode("utf-8", "replace"),
                    struct.unpack(">I", s.args[2])[0],
                )
                deps[ref].append(bid)
    return dict(deps)


def _age_days(created: str) -> float:
    then = datetime.datetime.fromisoformat(created)
    return (datetime.datetime.now(datetime.UTC) - then).total_seconds() / 86400


def key_status(
    ring: Keyring, repo: Repository | None, max_age_days: int | None
) -> list[dict[str, Any]]:
    deps = key_dependencies(repo) if repo is not None else {}
    rows = []
    for name, versions in sorted(ring.keys.items()):
        newest_active = max((v.version for v in versions if v.state == "active"), default=None)
        for v in versions:
            age = _age_days(v.created)
            needed = deps.get((ring.keyring_id.hex(), name, v.version), [])
            warnings = []
            if v.state == "active" and not v.escrowed:
                warnings.append("no escrow copy recorded (dbseal keys export --paper)")
            due = v.version == newest_active and max_age_days is not None and age > max_age_days
            if due:
                warnings.append(f"rotation due: older than {max_age_days} days")
            if v.state == "destroyed" and needed:
                warnings.append(f"{len(needed)} backups are unrecoverable through this key")
            rows.append(
                {
                    "key": name,
                    "version": v.version,
                    "state": v.state,
                    "created": v.created,
                    "age_days": round(age, 1),
                    "in_use_for_new_backups": v.version == newest_active,
                    "backups": len(needed) if repo is not None else None,
                    "rotation_due": due,
                    "escrowed": v.escrowed,
                    "changed": v.changed,
                    "warnings": warnings,
                }
            )
    return rows


def rotate(directory: str, name: str, passphrase: Secret) -> KeyVersion:
    def change(ring: Keyring) -> KeyVersion:
        ring.get(name)  # the key must exist
        return ring.add_version(name)

    return update_keyring(directory, passphrase, change)


def _version(ring: Keyring, name: str, version: int) -> KeyVersion:
    kv = ring.get(name, version)
    return kv


def retire(
    directory: str, name: str, version: int, repo: Repository, passphrase: Secret
) -> KeyVersion:
    """Erase a version's material once no backup in ``repo``, finished or running, needs it."""
    return update_keyring(directory, passphrase, lambda ring: _retire(ring, name, version, repo))


def _retire(ring: Keyring, name: str, version: int, repo: Repository) -> KeyVersion:
    kv = _version(ring, name, version)
    if kv.state != "active":
        raise KeyringError(f"key {name}:{version} is already {kv.state}")
    actives = [v for v in ring.keys[name] if v.state == "active"]
    if len(actives) == 1:
        raise PolicyViolation(
            f"{name}:{version} is the only active version of {name}",
            hint=f"run `dbseal keys rotate {name}` first",
        )
    needed = key_dependencies(repo).get((ring.keyring_id.hex(), name, version), [])
    if needed:
        listed = ", ".join(needed[:10]) + (
            f" and {len(needed) - 10} more" if len(needed) > 10 else ""
        )
        raise PolicyViolation(
            f"key {name}:{version} still opens {len(needed)} backup(s) in {repo.backend.location}: {listed}",
            hint=f"re-wrap them first: dbseal rewrap --repo REPO --all --to keyring:{name} --remove keyring:{name}:{version}",
        )
    check_not_in_flight(ring, name, version, repo)
    kv.erase("retired")
    return kv


def destroy_plan(
    ring: Keyring, name: str, version: int | None, repo: Repository | None
) -> tuple[list[KeyVersion], list[str]]:
    """The versions that would be destroyed and the backups that become unrecoverable through them."""
    versions = [_version(ring, name, version)] if version is not None else list(ring.get_all(name))
    deps = key_dependencies(repo) if repo is not None else {}
    affected: list[str] = []
    for kv in versions:
        affected += deps.get((ring.keyring_id.hex(), name, kv.version), [])
    return versions, sorted(set(affected))


def destroy(
    directory: str, name: str, versions: list[int], repo: Repository | None, passphrase: Secret
) -> None:
    """Destroy exactly ``versions`` (the planned ones) of the current keyring's key ``name``."""

    def change(ring: Keyring) -> None:
        current = [_version(ring, name, v) for v in versions]
        if repo is not None:
            for kv in current:
                check_not_in_flight(ring, name, kv.version, repo)
        for kv in current:
            if kv.state != "destroyed":
                kv.erase("destroyed")

    update_keyring(directory, passphrase, change)


def change_passphrase(directory: str, old: Secret, new: Secret) -> Keyring:
    return update_keyring(directory, old, lambda ring: ring, new_passphrase=new)


# --- paper escrow -----------------------------------------------------------------------
PAPER_MAGIC = "dbseal keyring paper copy v1"
_LINE = 40


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:4]


def paper_export(directory: str, passphrase: Secret) -> str:
    """The keyring's keys as printable, checksummed lines; records the escrow on each version."""
    return update_keyring(directory, passphrase, _paper_text)


def _paper_text(ring: Keyring) -> str:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    for versions in ring.keys.values():
        for v in versions:
            if v.state == "active":
                v.escrowed = now
    doc = {
        "keyring_id": ring.keyring_id.hex(),
        "created": ring.created,
        "keys": {n: [v.to_json() for v in vs if v.kek] for n, vs in ring.keys.items()},
    }
    blob = base64.b32encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")
    lines = [
        PAPER_MAGIC,
        f"keyring {ring.keyring_id.hex()}, printed {now}",
        "KEEP THIS PAGE IN A SAFE: it opens every backup sealed for these keys.",
        "Re-import: dbseal keys import --paper FILE --keyring NEW_DIR",
        f"sha256 {hashlib.sha256(blob.encode()).hexdigest()}",
        "",
    ]
    for i in range(0, len(blob), _LINE):
        chunk = blob[i : i + _LINE]
        groups = " ".join(chunk[j : j + 4] for j in range(0, len(chunk), 4))
        n = i // _LINE + 1
        lines.append(f"{n:03d}  {groups}  {_checksum(f'{n}:{chunk}')}")
    return "\n".join(lines) + "\n"


def paper_import(text: str, directory: str, passphrase: Secret) -> Keyring:
    lines = text.splitlines()
    if not lines or lines[0].strip() != PAPER_MAGIC:
        raise UsageError("this is not a dbseal keyring paper copy")
    want = next((ln.split()[1] for ln in lines if ln.startswith("sha256 ")), None)
    chunks = []
    for ln in lines:
        parts = ln.split()
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        n, chunk, check = int(parts[0]), "".join(parts[1:-1]).upper(), parts[-1]
        if _checksum(f"{n}:{chunk}") != check:
            raise UsageError(
                f"line {n:03d} of the paper copy has a typo (its checksum does not match)"
            )
        chunks.append((n, chunk))
    blob = "".join(c for _, c in sorted(chunks))
    if want is None or hashlib.sha256(blob.encode()).hexdigest() != want:
        raise UsageError(
            "the paper copy is incomplete or has a wrong line (whole-copy sha256 differs)"
        )
    doc = json.loads(base64.b32decode(blob + "=" * (-len(blob) % 8)))
    ring = Keyring(directory, bytes.fromhex(doc["keyring_id"]), doc["created"])
    for name, versions in doc["keys"].items():
        ring.keys[name] = [KeyVersion.from_json(v) for v in versions]
    ring.create_directory()
    with keyring_lock(directory):
        ring.create_directory()  # again under the lock: a concurrent import or init may have won
        ring.save(passphrase)
    return ring
