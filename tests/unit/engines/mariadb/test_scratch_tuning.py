"""The throwaway verify server's options: sized to memory, tmpfs only when the load fits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dbseal.engines.mariadb import scratch_tuning as st

GiB = st.GiB
MiB = st.MiB


def _value(args: tuple[str, ...], name: str) -> str:
    found = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    assert len(found) == 1, (name, args)
    return found[0]


def test_no_durability_options_are_always_there() -> None:
    p = st.plan(100 * MiB, 16 * GiB, 20 * GiB, nosync=True)
    assert "--innodb-doublewrite=0" in p.args
    assert "--innodb-flush-log-at-trx-commit=0" in p.args
    assert "--skip-log-bin" in p.args
    assert _value(p.args, "innodb-flush-method") == "nosync"


def test_buffer_pool_is_a_quarter_of_available_memory_within_bounds() -> None:
    assert st.plan(None, 8 * GiB, None, nosync=False).buffer_pool == 2 * GiB
    assert st.plan(None, 64 * GiB, None, nosync=False).buffer_pool == st.POOL_MAX
    assert st.plan(None, 512 * MiB, None, nosync=False).buffer_pool == st.POOL_MIN
    p = st.plan(None, 8 * GiB, None, nosync=False)
    assert _value(p.args, "innodb-buffer-pool-size") == str(2 * GiB)
    assert _value(p.args, "innodb-log-file-size") == str(512 * MiB)


def test_without_nosync_the_flush_method_is_left_alone() -> None:
    p = st.plan(None, 8 * GiB, None, nosync=False)
    assert not any(a.startswith("--innodb-flush-method") for a in p.args)


def test_tmpfs_only_when_data_fits_in_it_and_in_memory() -> None:
    assert st.plan(500 * MiB, 16 * GiB, 20 * GiB, nosync=False).on_tmpfs
    # tmpfs too small for twice the dump plus the redo log
    assert not st.plan(5 * GiB, 64 * GiB, 6 * GiB, nosync=False).on_tmpfs
    # tmpfs large, but memory besides the buffer pool is short
    assert not st.plan(3 * GiB, 4 * GiB, 20 * GiB, nosync=False).on_tmpfs
    # unknown size of the backup: never tmpfs
    assert not st.plan(None, 64 * GiB, 20 * GiB, nosync=False).on_tmpfs


def test_mem_available_reads_meminfo(tmp_path: Path) -> None:
    f = tmp_path / "meminfo"
    f.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n")
    assert st.mem_available(f) == 2048 * 1024
    f.write_text("MemTotal: 100 kB\n")
    assert st.mem_available(f) is None


@pytest.mark.skipif(shutil.which("mariadbd") is None, reason="mariadbd not installed")
def test_this_mariadbd_is_probed_for_nosync() -> None:
    mariadbd = shutil.which("mariadbd")
    assert mariadbd is not None
    # 10.11 (the machine's version) offers it; the probe must find it there
    assert st.offers_nosync(mariadbd) is True
