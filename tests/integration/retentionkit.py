"""Repositories of backups with chosen start times, for retention and prune tests.

A backup written here is complete and real (sealed data object, sealed log, key
envelope, authenticated manifest), written through the catalog's handles exactly in
the order `dbseal backup` writes them; only its ``started`` time (and so its id) is
chosen by the test, as if the backup had run then. No database is involved: retention
reads manifests only.

``SLOW_DBSEAL`` runs the real `dbseal` command in a process whose deletions pause: the
first ``remove`` of a manifest writes PAUSED_FILE and waits (bounded) until the test
creates GO_FILE; every later remove sleeps a little. ``DBSEAL_TEST_CLOCK_OFFSET_S``
moves that process's wall clock (as the lock sees it) and ``DBSEAL_TEST_HOST`` its
host name, to play another host with a clock that is off.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cli.clikit import clean_env
from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import (
    Repository,
    data_handle,
    envelope_handle,
    log_handle,
    manifest_handle,
    new_backup_id,
)
from dbseal.codecs import parse_codec
from dbseal.crypto.recipients import Recipient, describe_stanza
from dbseal.crypto.x25519 import X25519Recipient
from dbseal.format.envelope import parse_envelope
from dbseal.ops.seal import new_file_keys, seal_stream
from dbseal.storage import open_backend

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    """``2025-03-01T10:00`` -> an aware UTC time."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_backup(
    repo: Repository,
    recipient: str,
    started: datetime.datetime,
    source: str = "shop",
    status: str = "ok",
    parent: str | None = None,
    recipients: Sequence[Recipient] | None = None,
) -> str:
    """A complete backup of ``source`` that started at ``started``; returns its id.

    It is sealed for ``recipient`` (an age1... key), or for ``recipients`` when given."""
    bid = new_backup_id(started)
    data_key, file_id = new_file_keys()
    recipients = list(recipients) if recipients is not None else [X25519Recipient.parse(recipient)]
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
        io.BytesIO(json.dumps({"stderr": "", "reasons": []}).encode()),
        log,
        recipients,
        parse_codec("zstd"),
        {"backup_id": bid, "kind": "log"},
    )
    repo.backend.put(log_handle(bid), log.getvalue())
    assert sealed.envelope is not None
    repo.backend.put(envelope_handle(bid), sealed.envelope)
    doc = {
        "dbseal_manifest": mf.MANIFEST_FORMAT,
        "id": bid,
        "name": source,
        "source_name": source,
        "repository_id": repo.config.repository_id,
        "file_id": file_id.hex(),
        "status": status,
        "reasons": [] if status != "failed" else ["the dump tool failed"],
        "started": started.isoformat(),
        "ended": (started + datetime.timedelta(minutes=1)).isoformat(),
        "parent": parent,
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
    return bid


def open_repo(location: str | Path) -> Repository:
    return Repository.open(open_backend(str(location)))


def every(
    start: datetime.datetime, step: datetime.timedelta, until: datetime.datetime
) -> list[datetime.datetime]:
    out, t = [], start
    while t < until:
        out.append(t)
        t += step
    return out


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


# The `dbseal` command with slow deletions (see the module docstring). Nothing else changes.
SLOW_DBSEAL_CODE = """
import datetime, os, sys, time
from pathlib import Path
from dbseal.catalog import lock
from dbseal.storage.local import LocalBackend

paused, go = Path(os.environ["PAUSED_FILE"]), Path(os.environ["GO_FILE"])
offset = float(os.environ.get("DBSEAL_TEST_CLOCK_OFFSET_S", "0"))
host = os.environ.get("DBSEAL_TEST_HOST")
if offset:
    lock._wall_now = lambda: datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset)
if host:
    lock._host = lambda: host
_remove = LocalBackend.remove

def remove(self, handle):
    if handle.kind == "manifest":
        if not paused.exists():
            paused.write_text(str(os.getpid()))
            deadline = time.monotonic() + 120
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(0.05)
    _remove(self, handle)

LocalBackend.remove = remove
from dbseal.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def slow_dbseal_argv(*args: object) -> list[str]:
    return [sys.executable, "-c", SLOW_DBSEAL_CODE, *(str(a) for a in args)]


def slow_env(home: Path, **extra: str) -> dict[str, str]:
    env = clean_env()
    env.update({"PAUSED_FILE": str(home / "paused"), "GO_FILE": str(home / "go"), **extra})
    return env


def pid_of_paused(home: Path) -> int:
    return int((home / "paused").read_text())


__all__ = ["UTC", "at", "every", "open_repo", "os", "wait_for", "write_backup"]
