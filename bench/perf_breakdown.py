#!/usr/bin/env python3
"""Group ``perf script`` samples of a dbseal run into cost categories.

Usage (``--call-graph dwarf`` so that libc copies can be attributed)::

    perf record -F 499 --call-graph dwarf,32768 -o perf.data -- .venv/bin/dbseal seal ...
    perf script -F comm,pid,tid,time,ip,sym,dso -i perf.data | python bench/perf_breakdown.py

Each sample is put in the first category whose rule matches its stack (leaf
first), e.g. "zstd", "AES-GCM (Cobblestone)", "SHA-256 (hashlib)", "kernel:
write()", "memcpy called from python-zstandard". The result is a Markdown table
of CPU shares; ``--threads`` adds one column per thread (by tid: the main
thread is the one whose tid equals the pid).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

HEADER_RE = re.compile(r"^(?P<comm>\S.*?)\s+(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+[\d.]+:")
FRAME_RE = re.compile(r"^\s+[0-9a-f]+\s+(?P<sym>.*?)\s+\((?P<dso>[^)]*)\)\s*$")


STARTUP = frozenset(
    {
        "Py_InitializeFromConfig",
        "PyImport_ImportModuleLevelObject",
        "_dl_start_user",
        "_dl_catch_exception",
        "Py_FinalizeEx",
    }
)


@dataclass
class Sample:
    pid: int
    tid: int
    frames: list[tuple[str, str]]  # (symbol, dso basename), leaf first


def samples(lines: Iterable[str]) -> Iterator[Sample]:
    cur: Sample | None = None
    for line in lines:
        if not line.strip():
            if cur is not None:
                yield cur
            cur = None
            continue
        m = HEADER_RE.match(line)
        if m and not line.startswith(("\t", " ")):
            if cur is not None:
                yield cur
            pid = int(m.group("pid"))
            cur = Sample(pid, int(m.group("tid") or pid), [])
            continue
        f = FRAME_RE.match(line)
        if f and cur is not None:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", f.group("sym"))
            cur.frames.append((sym, f.group("dso").rsplit("/", 1)[-1]))
    if cur is not None:
        yield cur


def _resolve_inlined(frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An ``(inlined)`` frame belongs to the DSO of the next real frame (its caller)."""
    out: list[tuple[str, str]] = []
    pending: list[str] = []
    for sym, dso in frames:
        if dso == "inlined":
            pending.append(sym)
            continue
        out.extend((p, dso) for p in pending)
        pending = []
        out.append((sym, dso))
    out.extend((p, "unknown") for p in pending)
    return out


def _kernel_category(syms: list[str]) -> str:
    joined = " ".join(syms)
    for needle, name in (
        ("fsync", "kernel: fsync"),
        ("sys_rename", "kernel: rename (frees a replaced file)"),
        ("sys_unlink", "kernel: unlink"),
        ("page_fault", "kernel: page faults (fresh memory)"),
        ("sys_read", "kernel: read() copies"),
        ("sys_pread", "kernel: read() copies"),
        ("sys_write", "kernel: write() copies"),
        ("futex", "kernel: futex (thread hand-offs)"),
        ("sys_munmap", "kernel: munmap"),
        ("sys_madvise", "kernel: madvise"),
        ("sys_mmap", "kernel: mmap"),
        ("schedule", "kernel: scheduling"),
        ("execve", "kernel: process start"),
        ("exit", "kernel: process exit"),
    ):
        if needle in joined:
            return name
    return "kernel: other"


def categorize(s: Sample) -> str:
    if not s.frames:
        return "unknown"
    frames = _resolve_inlined(s.frames)
    syms = [sym for sym, _ in frames]
    leaf_sym, leaf_dso = frames[0]
    if any(sym in STARTUP for sym in syms):
        return "Python start-up and imports"
    if leaf_dso.startswith("[kernel"):
        return _kernel_category(syms)
    if re.search(r"mem(move|cpy|set)|_mm_storeu", leaf_sym):
        callers = [f for f in frames if not re.search(r"mem(move|cpy|set)|_mm_|copy16", f[0])]
        caller_sym, caller_dso = callers[0] if callers else ("", "")
        if caller_sym.startswith(("ZSTD_wildcopy", "ZSTD_exec", "ZSTD_decompressSeq")):
            return "zstd (python-zstandard)"  # copying matches is decompression itself
        if caller_dso.startswith("backend_c"):
            return "memcpy: zstd stream buffers to Python objects"
        if caller_dso.startswith("_rust"):
            return "memcpy in cryptography"
        if caller_dso.startswith(("libpython", "python")):
            return "memcpy: Python bytes slicing/joining/copies"
        return "memcpy (caller unknown)"
    if "backend_c" in leaf_dso or leaf_sym.startswith(("ZSTD_", "HUF_", "FSE_", "HIST_")):
        return "zstd (python-zstandard)"
    if leaf_dso.startswith("_rust"):
        return "AES-GCM (Cobblestone, cryptography)"
    if leaf_dso.startswith("libcrypto"):
        return "SHA-256 (hashlib/OpenSSL)"
    if leaf_dso.startswith("libc") and re.search(r"malloc|free|realloc|_int_", leaf_sym):
        return "malloc/free"
    if leaf_dso.startswith(("libpython", "python")):
        if any("gc_collect" in sym for sym in syms):
            return "Python: garbage collector"
        return "Python interpreter"
    if leaf_dso.startswith("ld-linux"):
        return "dynamic loading (start-up)"
    return f"other ({leaf_dso})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Group `perf script` samples into categories.")
    ap.add_argument("--threads", action="store_true", help="one column per thread")
    ap.add_argument("--min", type=float, default=0.5, help="hide categories below this %%")
    args = ap.parse_args(argv)

    total: Counter[str] = Counter()
    per_thread: dict[int, Counter[str]] = defaultdict(Counter)
    main_tids: set[int] = set()
    for s in samples(sys.stdin):
        cat = categorize(s)
        total[cat] += 1
        per_thread[s.tid][cat] += 1
        if s.tid == s.pid:
            main_tids.add(s.tid)
    n = sum(total.values())
    if not n:
        print("no samples", file=sys.stderr)
        return 1
    tids = sorted(per_thread, key=lambda t: -sum(per_thread[t].values()))
    head = "| category | share of CPU samples |"
    rule = "|---|---:|"
    if args.threads:
        for t in tids:
            head += f" tid {t}{' (main)' if t in main_tids else ''} |"
            rule += "---:|"
    print(f"{n} samples\n\n{head}\n{rule}")
    for cat, k in total.most_common():
        if 100 * k / n < args.min:
            continue
        row = f"| {cat} | {100 * k / n:.1f}% |"
        if args.threads:
            row += "".join(f" {100 * per_thread[t][cat] / n:.1f}% |" for t in tids)
        print(row)
    hidden = sum(k for k in total.values() if 100 * k / n < args.min)
    if hidden:
        print(f"| (smaller categories) | {100 * hidden / n:.1f}% |")
    if args.threads:
        print("\nper thread:", ", ".join(f"{t}: {sum(per_thread[t].values())}" for t in tids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
