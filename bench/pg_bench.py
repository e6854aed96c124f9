#!/usr/bin/env python3
"""PostgreSQL benchmark (issue 17), one run on one generated database:

* logical backup: ``dbseal backup --pg-jobs 2`` vs ``pg_dump -Fd -j 2 -f DIR`` (and nothing else);
* restore: ``dbseal restore --jobs 2`` vs ``pg_restore -j 2 -d DB DIR`` of that directory;
* base backup: ``dbseal backup --method physical`` vs
  ``pg_basebackup -Ft -D - -X fetch | zstd -1 | age -r KEY > FILE``.

A throwaway PostgreSQL (the test sandbox) gets a database of at least ``--size`` (default
500M: a table of half-compressible rows, by pg_database_size); every client reads it over
the Unix socket with the same passfile. dbseal writes to a local repository, codec zstd:1,
one age recipient. Runs are interleaved (peer, then dbseal) ``--runs`` times; the best of
each is reported with the machine's load, which other sessions share.

Usage (from the repository root)::

    .venv/bin/python bench/pg_bench.py [--size 500M] [--runs 1] [--out docs/benchmarks.md]

With ``--out`` only the block between ``<!-- pg-bench:start -->`` and ``<!-- pg-bench:end -->``
is replaced (appended if missing).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seal_bench import busy  # bench/ is sys.path[0] when this file is run

from dbseal.engines.postgresql.passfile import child_env, passfile
from dbseal.engines.postgresql.sandbox import PostgresSandbox
from dbseal.engines.postgresql.tools import tool

START, END = "<!-- pg-bench:start -->", "<!-- pg-bench:end -->"
DBSEAL = [sys.executable, "-m", "dbseal.cli.main"]
MB = 1_000_000


def parse_size(text: str) -> int:
    units = {"K": 10**3, "M": 10**6, "G": 10**9}
    last = text[-1].upper()
    return int(float(text[:-1]) * units[last]) if last in units else int(text)


def timed(args: list[str], env: dict[str, str] | None = None, shell: bool = False) -> float:
    t0 = time.monotonic()
    if shell:  # a pipeline: fail when any part fails, not only the last
        args = ["bash", "-o", "pipefail", "-c", " ".join(args)]
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def generate(pg: PostgresSandbox, size: int) -> int:
    pg.sql("CREATE DATABASE bench")
    pg.sql(
        "CREATE TABLE t (id bigint PRIMARY KEY, a int, b text, c jsonb, d numeric(12, 2))", "bench"
    )
    step, done = 400_000, 0
    while int(str(pg.sql("SELECT pg_database_size('bench')", "bench")[0][0])) < size:
        pg.sql(
            f"INSERT INTO t SELECT i, i % 1000, md5(i::text) || repeat(chr(65 + i % 26), 60) "
            f"|| md5((i * 7)::text), jsonb_build_object('k', i % 97, 'v', md5(i::text)), i / 3.0 "
            f"FROM generate_series({done + 1}, {done + step}) i",
            "bench",
        )
        done += step
    pg.sql("VACUUM ANALYZE t", "bench")
    return int(str(pg.sql("SELECT pg_database_size('bench')", "bench")[0][0]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="500M")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out")
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dbseal-pgbench-"))
    try:
        with PostgresSandbox() as pg:
            rows = run(pg, work, parse_size(opts.size), opts.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, opts.out)


def run(
    pg: PostgresSandbox, work: Path, size: int, runs: int
) -> list[tuple[str, float, float, str]]:
    db_size = generate(pg, size)
    print(f"database bench: {db_size / MB:.0f} MB", flush=True)
    env = dict(os.environ)
    key = work / "id.key"
    recipient = subprocess.run(
        [*DBSEAL, "keygen", "-o", str(key)], capture_output=True, text=True, check=True
    ).stdout.strip()
    pwfile = work / "pw"
    pwfile.write_text(pg.password_text)
    pwfile.chmod(0o600)
    url = pg.url("bench")
    best: dict[str, float] = {}

    def note(name: str, secs: float) -> None:
        best[name] = min(best.get(name, secs), secs)
        print(f"  {name}: {secs:.2f} s", flush=True)

    with passfile(pg.password) as pgpass:
        penv = child_env(pgpass)
        conn = pg.target().conninfo("bench")
        for i in range(runs):
            out = work / f"dir{i}"
            note(
                "pg_dump",
                timed([tool("pg_dump"), "-Fd", "-j", "2", "-f", str(out), "-d", conn], penv),
            )
            repo = work / f"repo{i}"
            subprocess.run(
                [*DBSEAL, "init", str(repo), "-r", recipient], check=True, capture_output=True
            )
            note("dbseal backup", timed(
                [*DBSEAL, "backup", "--repo", str(repo), "--source", url, "--password-file",
                 str(pwfile), "--pg-jobs", "2", "--compress", "zstd:1"], env))  # fmt: skip
            pg.sql(f"CREATE DATABASE peer{i}")
            note("pg_restore", timed(
                [tool("pg_restore"), "-j", "2", "-d", pg.target().conninfo(f"peer{i}"), str(out)], penv))  # fmt: skip
            shutil.rmtree(out)
            note("dbseal restore", timed(
                [*DBSEAL, "restore", "--repo", str(repo), "latest", "--target", pg.url(),
                 "--target-password-file", str(pwfile), "-i", str(key), "--rename-db",
                 f"bench=mine{i}", "--jobs", "2"], env))  # fmt: skip
            pg.sql(f"DROP DATABASE peer{i}")
            pg.sql(f"DROP DATABASE mine{i}")
            base = work / f"base{i}.tar.zst.age"
            note("pg_basebackup | zstd | age", timed(
                [tool("pg_basebackup"), "-Ft", "-D", "-", "-X", "fetch", "--checkpoint=fast",
                 "-d", shlex.quote(pg.target().conninfo("postgres")), "|", "zstd", "-1", "-q", "|",
                 "age", "-r", recipient, ">", str(base)], penv, shell=True))  # fmt: skip
            base.unlink()
            note("dbseal backup --method physical", timed(
                [*DBSEAL, "backup", "--repo", str(repo), "--source", pg.url(), "--password-file",
                 str(pwfile), "--method", "physical", "--compress", "zstd:1"], env))  # fmt: skip
            shutil.rmtree(repo)
    load = busy()
    return [
        ("logical backup", best["pg_dump"], best["dbseal backup"], "pg_dump -Fd -j 2 -f DIR"),
        ("restore", best["pg_restore"], best["dbseal restore"], "pg_restore -j 2 -d DB DIR"),
        (
            "base backup",
            best["pg_basebackup | zstd | age"],
            best["dbseal backup --method physical"],
            "pg_basebackup -Ft -X fetch -D - | zstd -1 | age -r KEY",
        ),
        ("database", float(db_size), 0.0, load),
    ]


def report(rows: list[tuple[str, float, float, str]], out: str | None) -> None:
    *timings, (_, db_size, _, load) = rows
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        START,
        f"Run {stamp} on {platform.machine()} ({os.cpu_count()} cores, shared), database of "
        f"{db_size / MB:.0f} MB, best of the runs; {load} at the end.",
        "",
        "| what | peer | peer wall (s) | dbseal wall (s) | dbseal / peer | target |",
        "|---|---|---|---|---|---|",
    ]
    targets = {"logical backup": 1.1, "restore": 1.05, "base backup": 1.1}
    for name, peer, mine, peer_cmd in timings:
        ratio = mine / peer
        mark = "met" if ratio <= targets[name] else "NOT met"
        cmd = peer_cmd.replace("|", "\\|")
        lines.append(
            f"| {name} | `{cmd}` | {peer:.2f} | {mine:.2f} | {ratio:.2f} | <= {targets[name]} ({mark}) |"
        )
    lines += [
        "",
        "dbseal's backup rows include sealing (zstd:1, one age recipient) and writing the "
        "repository; its restore row includes authenticating the whole backup first (pass 1) "
        "and the staging database's rename. Rerun: `.venv/bin/python bench/pg_bench.py "
        "--size 500M --out docs/benchmarks.md`.",
        END,
    ]
    block = "\n".join(lines)
    print(block)
    if out:
        path = Path(out)
        text = path.read_text()
        if START in text and END in text:
            text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n## PostgreSQL (issue 17)\n\n" + block + "\n"
        path.write_text(text)


if __name__ == "__main__":
    main()
