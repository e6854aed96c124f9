"""A dbseal process holding keys can never leave a core dump behind."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.clikit import DBSEAL, clean_env


def _allow_core_dumps() -> None:
    """Run in the child before exec: a non-zero core limit, so the test can fail."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard != resource.RLIM_INFINITY:
        hard = max(hard, 1 << 20)  # raising the hard limit needs root; checked in _can_dump
    resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, hard))


def _core_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            return " ".join(line.split()[4:6])
    raise AssertionError("no core limit line")


@pytest.fixture(autouse=True)
def _linux_only() -> None:
    if not Path("/proc/self/limits").exists():
        pytest.skip("needs /proc (Linux)")
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    if hard != resource.RLIM_INFINITY and hard < (1 << 20) and os.geteuid() != 0:
        pytest.skip("the hard core limit is too low here to show that dbseal lowers it")


def test_running_unseal_has_core_dumps_disabled(identity_file: Path, tmp_path: Path) -> None:
    control = subprocess.Popen(["cat"], stdin=subprocess.PIPE, preexec_fn=_allow_core_dumps)
    proc = subprocess.Popen(
        [*DBSEAL, "unseal", "-i", str(identity_file)],
        stdin=subprocess.PIPE,  # never written: unseal blocks reading the header
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_allow_core_dumps,
        env=clean_env(),
        cwd=tmp_path,
    )
    try:
        assert _core_limit(control.pid) != "0 0", "the test setup must allow core dumps"
        deadline = time.monotonic() + 20
        limit = _core_limit(proc.pid)
        while limit != "0 0" and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            limit = _core_limit(proc.pid)
        assert proc.poll() is None, "unseal should still be waiting for its input"
        assert limit == "0 0"
    finally:
        for p in (proc, control):
            p.kill()
            p.wait()
            if p.stdin:
                p.stdin.close()
        if proc.stderr:
            proc.stderr.close()


def test_harden_process_disables_core_dumps_and_ptrace_dumpability() -> None:
    snippet = (
        "import ctypes, resource\n"
        "from dbseal.crypto.hardening import harden_process\n"
        "done = harden_process()\n"
        "libc = ctypes.CDLL(None)\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE), libc.prctl(3, 0, 0, 0, 0), done)\n"
    )
    before = subprocess.run(
        [sys.executable, "-c", "import resource; print(resource.getrlimit(resource.RLIMIT_CORE))"],
        capture_output=True,
        text=True,
        preexec_fn=_allow_core_dumps,
        check=True,
    ).stdout.strip()
    assert before != "(0, 0)"
    out = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        preexec_fn=_allow_core_dumps,
        check=True,
    ).stdout.strip()
    assert out == "(0, 0) 0 {'rlimit_core': True, 'not_dumpable': True}"
