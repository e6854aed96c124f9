"""Server options for a throwaway MariaDB that only takes one scratch load.

`dbseal verify --level restore` restores into a private server whose data is deleted as soon
as the comparison is done, so nothing it writes has to survive a crash: the options here trade
every durability guarantee for load speed.

* no doublewrite buffer, no fsync of the redo log at commit, no binary log, and
  ``innodb_flush_method=nosync`` where the server offers it (MariaDB 10.x and 11.x list it in
  ``mariadbd --help``; otherwise the server's default is kept);
* a buffer pool sized to the memory available (a quarter of ``MemAvailable``, between 256 MiB
  and 4 GiB) and a large redo log (1 GiB, less when memory is short), so the load is not
  slowed by checkpoint flushing;
* ``innodb_fast_shutdown=2``: the stop does not flush the buffer pool to files that are
  deleted a moment later;
* the data directory on ``/dev/shm`` (tmpfs) when the expected data, the redo log and a
  margin fit both in its free space and in the memory left besides the buffer pool, and
  ``TMPDIR`` is not set (a user who names a temporary directory gets it); otherwise the
  system temporary directory.

:func:`scratch_plan` takes the backup's raw (uncompressed dump) size and returns the options
and the parent directory; it reads only ``/proc/meminfo`` and ``statvfs``.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30
SHM = "/dev/shm"
POOL_FRACTION = 4  # a quarter of MemAvailable
POOL_MIN = 256 * MiB
POOL_MAX = 4 * GiB
LOG_MAX = 1 * GiB
LOG_MIN = 64 * MiB
# InnoDB files of a restored mariadb-dump stream: about 1.5x the SQL text for the bench's
# shop schema with its indexes; 2x keeps a margin for schemas with more indexes.
DATA_FACTOR = 2.0
SHM_MARGIN = 512 * MiB  # left free in tmpfs and in memory besides the buffer pool

_ALWAYS = (
    "--innodb-doublewrite=0",
    "--innodb-flush-log-at-trx-commit=0",
    "--sync-binlog=0",
    "--skip-log-bin",
    "--innodb-fast-shutdown=2",
    "--innodb-buffer-pool-dump-at-shutdown=0",
    "--innodb-buffer-pool-load-at-startup=0",
    "--innodb-log-buffer-size=64M",
    "--innodb-io-capacity=20000",
    "--innodb-io-capacity-max=40000",
)


@dataclass(frozen=True)
class ScratchPlan:
    """Where the throwaway server's directory goes and the options it is started with."""

    args: tuple[str, ...]
    parent_dir: str | None  # None: the system temporary directory
    buffer_pool: int
    log_file_size: int
    nosync: bool

    @property
    def on_tmpfs(self) -> bool:
        return self.parent_dir == SHM


def mem_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable in bytes, or None where /proc/meminfo does not say."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _free_bytes(path: str) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


@functools.cache
def offers_nosync(mariadbd: str) -> bool:
    """True if this mariadbd lists ``nosync`` among its innodb_flush_method values."""
    try:
        out = subprocess.run(
            [mariadbd, "--no-defaults", "--verbose", "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = " ".join(out.split())
    return "innodb-flush-method" in text and "nosync" in text


def plan(
    raw_bytes: int | None,
    available: int | None,
    shm_free: int | None,
    nosync: bool,
) -> ScratchPlan:
    """The options for a scratch load of ``raw_bytes`` of dump (pure: for tests)."""
    avail = available if available is not None else 2 * GiB
    pool = max(POOL_MIN, min(POOL_MAX, avail // POOL_FRACTION))
    pool -= pool % MiB
    log_size = max(LOG_MIN, min(LOG_MAX, avail // 16))
    log_size -= log_size % MiB
    need = int((raw_bytes or 0) * DATA_FACTOR) + log_size + SHM_MARGIN
    fits = (
        raw_bytes is not None
        and shm_free is not None
        and shm_free >= need
        and avail - pool >= need + SHM_MARGIN
    )
    args = [
        *_ALWAYS,
        f"--innodb-buffer-pool-size={pool}",
        f"--innodb-log-file-size={log_size}",
    ]
    if nosync:
        args.append("--innodb-flush-method=nosync")
    return ScratchPlan(tuple(args), SHM if fits else None, pool, log_size, nosync)


def scratch_plan(raw_bytes: int | None, mariadbd: str) -> ScratchPlan:
    """:func:`plan` for this machine: its memory, its /dev/shm and this mariadbd."""
    usable = not os.environ.get("TMPDIR") and os.path.isdir(SHM) and os.access(SHM, os.W_OK)
    shm_free = _free_bytes(SHM) if usable else None
    return plan(raw_bytes, mem_available(), shm_free, offers_nosync(mariadbd))
