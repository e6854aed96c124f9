#!/usr/bin/env python3
"""Point-in-time recovery benchmark (issue 15): archiver throughput and CPU, replay overhead.

One run starts a throwaway MariaDB server (binlog on, ROW), writes ``--size`` of binary log
(transactions of 200 rows of ~1 KB, half compressible) and measures the write rate; then:

* **archive**: ``Archiver`` (``--once``: catching up on all of it, as after an outage) into
  a local repository (zstd:3, one X25519 recipient): wall time, MB/s, CPU seconds of dbseal
  plus mariadb-binlog per MB;
* **replay**: the same events applied into an empty copy of the table, by hand
  (``mariadb-binlog FILES | mariadb``) and by dbseal's replay (SQL to scratch, filtered,
  then ``mariadb``), interleaved ``--runs`` times; the ratio dbseal / by hand.

Usage (from the repository root)::

    .venv/bin/python bench/pitr_bench.py [--size 200M] [--runs 2]

It prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dbseal.catalog.repository import RepoConfig, Repository
from dbseal.crypto.secret import Secret
from dbseal.crypto.x25519 import X25519Identity
from dbseal.engines.mariadb.binlog_replay import replay
from dbseal.engines.mariadb.mysql_url import parse_mysql_url
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.ops.archive import Archiver
from dbseal.storage.local import LocalBackend

MB = 1_000_000


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _load(db: MariaDBSandbox, size: int) -> tuple[float, int]:
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE b")
        cur.execute("CREATE TABLE b.t (id INT PRIMARY KEY, v VARCHAR(1100)) ENGINE=InnoDB")
        cur.execute("CREATE DATABASE c")
        cur.execute("CREATE TABLE c.t (id INT PRIMARY KEY, v VARCHAR(1100)) ENGINE=InnoDB")
        conn.commit()
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
        start = int(row[1]) if row else 4
        t0, n = time.monotonic(), 0
        while sum(p.stat().st_size for p in db.datadir.glob("mysql-bin.0*")) < size:
            rows = [(n + i, os.urandom(256).hex() + "x" * 512) for i in range(200)]
            cur.executemany("INSERT INTO b.t VALUES (%s, %s)", rows)
            conn.commit()
            n += 200
        elapsed = time.monotonic() - t0
    conn.close()
    return elapsed, start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="200M")
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    size = int(float(a.size[:-1]) * MB) if a.size[-1] in "Mm" else int(a.size)
    tmp = Path(tempfile.mkdtemp(prefix="dbseal-pitr-bench-"))
    ident = X25519Identity.generate()
    repo = Repository.create(LocalBackend(str(tmp / "repo")), RepoConfig("bench", "now"))
    args = ["--log-bin=mysql-bin", "--binlog-format=ROW", "--server-id=7"]
    with MariaDBSandbox(tls=False, extra_args=args) as db:
        load_s, start = _load(db, size)
        copies = tmp / "logs"  # replaying into this server appends to its own logs
        copies.mkdir()
        files = []
        for p in sorted(db.datadir.glob("mysql-bin.0*")):
            files.append(copies / p.name)
            shutil.copyfile(p, files[-1])
        total = sum(p.stat().st_size for p in files)
        target = parse_mysql_url(f"mysql://root@127.0.0.1:{db.port}", ssl_mode="disabled")
        pw = Secret(db.root_password.encode())
        c0, t0 = _cpu(), time.monotonic()
        Archiver(repo, "bench", target, pw, [ident.recipient()]).run()
        arch_s, arch_cpu = time.monotonic() - t0, _cpu() - c0
        by_hand, ours = [], []
        scratch = tmp / "scratch"
        scratch.mkdir(mode=0o700)
        cnf = tmp / "client.cnf"
        fd = os.open(cnf, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"[client]\nuser=root\npassword={db.root_password}\nhost=127.0.0.1\n")
            f.write(f"port={db.port}\nprotocol=tcp\nskip-ssl\n")
        for _ in range(a.runs):
            for how in ("hand", "dbseal"):
                conn = db.connect()
                with conn.cursor() as cur:
                    cur.execute("TRUNCATE c.t")
                conn.close()
                t0 = time.monotonic()
                if how == "hand":
                    sh = (
                        f"mariadb-binlog --database=b --rewrite-db='b->c' --start-position={start} "
                        f"{' '.join(map(str, files))}"
                        f" | mariadb --defaults-file={cnf} --binary-mode"
                    )
                    subprocess.run(["sh", "-c", sh], check=True)
                    by_hand.append(time.monotonic() - t0)
                else:
                    replay(files, start, None, {"b": "c"}, target, pw, scratch)
                    ours.append(time.monotonic() - t0)
    stored = sum(p.stat().st_size for p in (tmp / "repo" / "binlogs").rglob("*.dbseal"))
    hand, mine = min(by_hand), min(ours)
    print(f"binlog written: {total / MB:.0f} MB in {load_s:.1f} s ({total / MB / load_s:.1f} MB/s)")
    print(
        f"archive (catch-up, --once): {arch_s:.1f} s, {total / MB / arch_s:.1f} MB/s, "
        f"CPU {arch_cpu:.1f} s ({arch_cpu / arch_s:.2f} cores), stored {stored / MB:.0f} MB"
    )
    print(f"replay by hand: {hand:.1f} s; dbseal's replay: {mine:.1f} s; ratio {mine / hand:.2f}")


if __name__ == "__main__":
    main()
