"""The keyring's write lock, held by another real process."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dbseal.crypto.keyring import Keyring
from dbseal.crypto.keyring_lock import LOCK_NAME, keyring_lock
from dbseal.crypto.secret import Secret
from dbseal.errors import KeyringLocked
from unit.sealkit import FAST_KDF

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, f"{os.getpid()} otherhost\\n".encode(), 0)
print("held", flush=True)
time.sleep(60)
"""


def test_a_held_lock_gives_up_after_the_bounded_wait(tmp_path: Path) -> None:
    ring = Keyring.init(str(tmp_path / "ring"), Secret(b"pw"), "backup", FAST_KDF)
    lock = Path(ring.directory) / LOCK_NAME
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(KeyringLocked, match=f"pid {holder.pid} on otherhost") as err,
            keyring_lock(ring.directory, wait_s=0.3),
        ):
            pass
        assert err.value.exit_code == 17
    finally:
        holder.kill()
        holder.wait()
    with keyring_lock(ring.directory, wait_s=5):  # the holder died: the kernel dropped its lock
        pass


def test_a_backup_learns_that_its_key_was_withdrawn(tmp_path: Path) -> None:
    """KeyringRecipient.check_current re-reads the keyring file (another process changed it)."""
    from dbseal.crypto.keyring import KeyringRecipient
    from dbseal.errors import KeyWithdrawn

    pw = Secret(b"pw")
    Keyring.init(str(tmp_path / "ring"), pw, "backup", FAST_KDF)
    sealing = KeyringRecipient(Keyring.open(str(tmp_path / "ring"), pw), "backup")

    other = Keyring.open(str(tmp_path / "ring"), pw)  # what a concurrent `keys` command does
    other.add_version("backup")
    other.save(pw, FAST_KDF)
    sealing.check_current()  # a rotation does not withdraw the version in use

    other.get("backup", 1).erase("retired")
    other.save(pw, FAST_KDF)
    with pytest.raises(KeyWithdrawn, match="backup:1 was retired"):
        sealing.check_current()

    Keyring.init(str(tmp_path / "ring2"), pw, "backup", FAST_KDF)
    moved = KeyringRecipient(Keyring.open(str(tmp_path / "ring2"), pw), "backup")
    (tmp_path / "ring2" / "keyring.json").unlink()
    with pytest.raises(KeyWithdrawn, match="cannot be confirmed"):
        moved.check_current()
