"""A repository with a year of simulated history, for `dbseal report` tests.

Backups are complete and real (sealed data object, sealed log, key envelope,
authenticated manifest) and written through the catalog's handles as `dbseal backup`
writes them; only their start times (and the facts a dump would record: server
version, TLS) are chosen here. Keys are a real keyring: versions are added, backups
rewrapped with ops.rewrap, versions retired and destroyed with ops.keys, then the
versions' dates are set to the simulated ones. Verification records are written by
ops.verify.record (authenticated with the backup's key) at simulated times.

The year (UTC; ``UNTIL`` is the next midnight, so the real `dbseal verify` a test runs
now falls inside it):

* ``shop``: MariaDB over TLS 1.3, daily at 02:00, sealed for keyring key ``backup``
  and an escrow age key; 6 failed days; no backup for 6 days from day 200 (a gap);
  monthly restore tests (one failed, one over the 2-minute RTO).
* ``crm``: MySQL over a local socket, every other day, keyring only (no escrow);
  3 backups with warnings; a restore test every quarter, decrypt-level monthly.
* ``legacy``: MariaDB over TLS 1.2, every other day until day 240 (stale since), sealed
  for keyring key ``old`` only, which is destroyed on day 300 (crypto-shredding).
* ``backup`` is rotated on day 180 (version 2); on day 190 every backup sealed for
  ``backup:1`` is rewrapped to ``backup:2`` (and ``backup:1`` removed); day 191
  ``backup:1`` is retired.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import (
    Policy,
    RepoConfig,
    Repository,
    data_handle,
    envelope_handle,
    log_handle,
    manifest_handle,
    new_backup_id,
)
from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring, KeyringIdentity, KeyringRecipient
from dbseal.crypto.passphrase import KdfParams
from dbseal.crypto.recipients import Recipient, describe_stanza
from dbseal.crypto.secret import Secret
from dbseal.crypto.x25519 import X25519Identity
from dbseal.format.envelope import parse_envelope
from dbseal.ops import keys as keyops
from dbseal.ops.restore import unlock_backup
from dbseal.ops.rewrap import Spec, rewrap_backup
from dbseal.ops.seal import new_file_keys, seal_stream
from dbseal.ops.verify import Verification, record
from dbseal.storage import open_backend

UTC = datetime.UTC
DAY = datetime.timedelta(days=1)
PASSPHRASE = b"report test keyring passphrase"
FAST_KDF = KdfParams(19456, 2, 1)
UNTIL = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + DAY
SINCE = UNTIL - 365 * DAY
SHOP_FAILED_DAYS = (20, 75, 130, 210, 260, 330)
SHOP_GAP_DAYS = range(200, 206)
CRM_WARNING_DAYS = (40, 100, 160)
SHOP_RTO_OVER_MONTH, SHOP_FAILED_RESTORE_MONTH = 9, 4


def day(n: int, hour: int = 0) -> datetime.datetime:
    return SINCE + n * DAY + datetime.timedelta(hours=hour)


SOURCES: dict[str, dict[str, Any]] = {
    "shop": {
        "server_version": "10.11.6-MariaDB-log",
        "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"},
        "source": {
            "kind": "mysqldump",
            "host": "db1.example.com",
            "port": 3306,
            "socket": None,
            "ssl_mode": "verify-identity",
        },
    },
    "crm": {
        "server_version": "8.0.36",
        "tls": None,
        "source": {
            "kind": "mysqldump",
            "host": None,
            "socket": "/run/mysqld/mysqld.sock",
            "ssl_mode": "preferred",
        },
    },
    "legacy": {
        "server_version": "10.6.16-MariaDB",
        "tls": {"version": "TLSv1.2", "cipher": "ECDHE-RSA-AES256-GCM-SHA384"},
        "source": {
            "kind": "mysqldump",
            "host": "old.example.com",
            "port": 3306,
            "socket": None,
            "ssl_mode": "verify-ca",
        },
    },
}


@dataclass
class Year:
    home: Path
    repo_dir: Path
    keyring_dir: Path
    passfile: Path
    escrow: str
    repo: Repository
    ring: Keyring
    ids: dict[str, list[str]] = field(default_factory=dict)  # source -> ids, oldest first
    failed: list[str] = field(default_factory=list)
    restore_runs: dict[str, int] = field(default_factory=dict)

    def keyring_opts(self) -> list[str]:
        return ["--keyring", str(self.keyring_dir), "--keyring-passphrase-file", str(self.passfile)]


def write_sealed(
    repo: Repository,
    recipients: Sequence[Recipient],
    started: datetime.datetime,
    source: str,
    status: str,
) -> str:
    bid = new_backup_id(started)
    data_key, file_id = new_file_keys()
    payload = f"-- dump of {source} at {started.isoformat()}\n".encode() * 20
    payload += f"-- Dump completed on {started:%Y-%m-%d %H:%M:%S}\n".encode()
    with repo.backend.writer(data_handle(bid)) as out:
        sealed = seal_stream(
            io.BytesIO(payload),
            out,
            recipients,
            parse_codec("zstd:1"),
            {"backup_id": bid, "repository_id": repo.config.repository_id},
            detached=True,
            keys=(data_key, file_id),
            hash_plaintext=True,
        )
    log = io.BytesIO()
    seal_stream(
        io.BytesIO(b'{"stderr": "", "reasons": []}'),
        log,
        recipients,
        parse_codec("zstd"),
        {"backup_id": bid, "kind": "log"},
    )
    repo.backend.put(log_handle(bid), log.getvalue())
    assert sealed.envelope is not None
    repo.backend.put(envelope_handle(bid), sealed.envelope)
    facts = SOURCES[source]
    doc = {
        "dbseal_manifest": mf.MANIFEST_FORMAT,
        "id": bid,
        "name": source,
        "source_name": source,
        "repository_id": repo.config.repository_id,
        "file_id": file_id.hex(),
        "status": status,
        "reasons": {"ok": [], "warnings": ["the dump tool printed 1 warning"]}.get(
            status, ["the dump tool failed"]
        ),
        "started": started.isoformat(),
        "ended": (started + datetime.timedelta(minutes=3)).isoformat(),
        "duration_s": 180.0,
        "server_version": facts["server_version"],
        "tls": facts["tls"],
        "source": facts["source"],
        "sizes": {
            "raw": sealed.plaintext_bytes,
            "compressed": sealed.compressed_bytes,
            "stored": sealed.stored_bytes,
        },
        "codec": "zstd:1",
        "keys": [describe_stanza(s) for s in parse_envelope(sealed.envelope).stanzas],
        "data_sha256": sealed.sha256.hex(),
        "plaintext_sha256": sealed.plaintext_sha256.hex() if sealed.plaintext_sha256 else None,
    }
    signed = mf.sign(doc, mf.manifest_key(sealed.data_key.reveal(), file_id))
    repo.backend.put(manifest_handle(bid), mf.encode(signed))
    if os.path.isdir(repo.backend.location):  # a local repository: the envelope's time too
        stamp = started.timestamp() + 180
        os.utime(Path(repo.backend.location) / "envelopes" / f"{bid}.env", (stamp, stamp))
    return bid


def _verify(
    year: Year,
    bid: str,
    level: str,
    when: datetime.datetime,
    restore_s: float | None,
    failed: bool = False,
) -> None:
    v = Verification(
        bid, level, when.isoformat(), duration_s=(restore_s or 5.0) + 2.0, restore_s=restore_s
    )
    if failed:
        v.result, v.error_class, v.exit_code = "failed", "DataMismatch", 20
        v.problems = ["table shop.orders: 1200 rows restored, 1201 recorded at backup time"]
    key = unlock_backup(year.repo, bid, [KeyringIdentity(year.ring)])
    record(year.repo, v, key)


def build_year(home: Path) -> Year:
    repo_dir, ring_dir = home / "repo", home / "keyring"
    passfile = home / "ring.pass"
    passfile.write_bytes(PASSPHRASE)
    passfile.chmod(0o600)
    secret = Secret(PASSPHRASE)
    ring = Keyring.init(str(ring_dir), secret, "backup", FAST_KDF)
    ring.add_version("old")
    ring.save(secret, FAST_KDF)
    escrow = X25519Identity.generate()
    config = RepoConfig(
        repository_id=os.urandom(16).hex(),
        created=(SINCE - 30 * DAY).isoformat(),
        recipients=[escrow.recipient().encode()],
        keyring={"id": ring.keyring_id.hex(), "key": "backup"},
        policy=Policy(),
    )
    repo = Repository.create(open_backend(str(repo_dir)), config)
    year = Year(home, repo_dir, ring_dir, passfile, escrow.recipient().encode(), repo, ring)
    # day 180: rotation (a real new version; its date is set below)
    for n in range(365):
        if n == 180:
            ring.add_version("backup")
            ring.save(secret, FAST_KDF)
        backup_key = KeyringRecipient(ring, "backup")
        if n not in SHOP_GAP_DAYS:  # day 364's backups may be a few hours ahead of now
            status = "failed" if n in SHOP_FAILED_DAYS else "ok"
            bid = write_sealed(repo, [backup_key, escrow.recipient()], day(n, 2), "shop", status)
            year.ids.setdefault("shop", []).append(bid)
            if status == "failed":
                year.failed.append(bid)
        if n % 2 == 0:
            status = "warnings" if n in CRM_WARNING_DAYS else "ok"
            year.ids.setdefault("crm", []).append(
                write_sealed(repo, [backup_key], day(n, 3), "crm", status)
            )
        if n % 2 == 0 and n <= 240:
            year.ids.setdefault("legacy", []).append(
                write_sealed(repo, [KeyringRecipient(ring, "old", 1)], day(n, 4), "legacy", "ok")
            )
    _rewrap_and_withdraw(year, secret)
    _restore_tests(year)
    return year


def _rewrap_and_withdraw(year: Year, secret: Secret) -> None:
    repo, ring = year.repo, year.ring
    to_v2 = KeyringRecipient(ring, "backup", 2)
    rewrapped_at = day(190, 9).timestamp()
    for bid in year.ids["shop"] + year.ids["crm"]:
        out = rewrap_backup(
            repo,
            bid,
            [KeyringIdentity(ring)],
            [(Spec("keyring", "backup"), to_v2)],
            [Spec("keyring", "backup", 1)],
            ring.keyring_id,
        )
        if out == "rewrapped":
            os.utime(year.repo_dir / "envelopes" / f"{bid}.env", (rewrapped_at, rewrapped_at))
    keyops.retire(str(year.keyring_dir), "backup", 1, repo, secret)
    keyops.destroy(str(year.keyring_dir), "old", [1], repo, secret)
    dates = {("backup", 1): (-20, 191), ("backup", 2): (180, None), ("old", 1): (-400, 300)}

    def backdate(r: Keyring) -> None:
        for (name, ver), (created, changed) in dates.items():
            kv = r.get(name, ver)
            kv.created = day(created, 8).replace(microsecond=0).isoformat()
            kv.changed = (
                day(changed, 10).replace(microsecond=0).isoformat() if changed is not None else None
            )
            kv.escrowed = kv.created

    keyops.update_keyring(str(year.keyring_dir), secret, backdate)
    year.ring = Keyring.open(str(year.keyring_dir), secret)


def _restore_tests(year: Year) -> None:
    """Monthly restore tests of shop, quarterly of crm, monthly decrypt-level of crm."""
    for month in range(12):
        first = SINCE + month * 30 * DAY
        shop = next(
            b for b in year.ids["shop"] if b >= first.strftime("%Y%m%dT") and b not in year.failed
        )
        crm = next(b for b in year.ids["crm"] if b >= first.strftime("%Y%m%dT"))
        when = first + datetime.timedelta(days=1, hours=6)
        restore_s = 150.0 if month == SHOP_RTO_OVER_MONTH else 60.0 + 3 * month
        _verify(year, shop, "restore", when, restore_s, failed=month == SHOP_FAILED_RESTORE_MONTH)
        year.restore_runs["shop"] = year.restore_runs.get("shop", 0) + 1
        _verify(year, crm, "decrypt", when + datetime.timedelta(hours=1), None)
        if month % 3 == 0:
            _verify(year, crm, "restore", when + datetime.timedelta(hours=2), 30.0 + month)
            year.restore_runs["crm"] = year.restore_runs.get("crm", 0) + 1


def write_event_log(path: Path) -> None:
    """A few lines as `dbseal --log-json` writes them (docs/events.md), one unreadable."""
    lines = [
        {
            "v": 1,
            "seq": 1,
            "run": "r1",
            "time": day(180, 8).isoformat().replace("+00:00", "Z"),
            "command": "keys rotate",
            "event": "command.start",
        },
        {
            "v": 1,
            "seq": 2,
            "run": "r1",
            "time": day(180, 8).isoformat().replace("+00:00", "Z"),
            "command": "keys rotate",
            "event": "command.end",
            "status": "ok",
            "exit_code": 0,
        },
        {
            "v": 1,
            "seq": 1,
            "run": "r2",
            "time": day(185, 8).isoformat().replace("+00:00", "Z"),
            "command": "keys destroy",
            "event": "command.end",
            "status": "failed",
            "exit_code": 2,
        },
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + "not json\n"
    path.write_text(text)
