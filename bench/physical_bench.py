#!/usr/bin/env python3
"""Physical backup benchmark (issue 13): ``dbseal backup --method physical`` against the
hand-made pipeline ``mariadb-backup --backup --stream=mbstream | zstd -1 -T2 | age -r KEY``.

One run starts a throwaway MariaDB server (binlog on), generates a datadir of at least
``--size`` (default 1G: an InnoDB table of half-compressible rows), then, interleaved
``--runs`` times, times the peer pipeline and dbseal (codec zstd:1, one age recipient,
a local repository), both reading the server over its unix socket as root. Then 1% of
the rows are changed and an incremental is taken on the last full backup; its stored
size is compared with the full's. Peak RSS is the dbseal process's own ``VmHWM``
(mariadb-backup's memory is the same in both rows and reported apart).

Usage (from the repository root)::

    .venv/bin/python bench/physical_bench.py [--size 1G] [--runs 2] [--out docs/benchmarks.md]

With ``--out`` only the block between ``<!-- physical-bench:start -->`` and
``<!-- physical-bench:end -->`` is replaced (appended if missing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from seal_bench import busy  # bench/ is sys.path[0] when this file is run

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

START, END = "<!-- physical-bench:start -->", "<!-- physical-bench:end -->"
DBSEAL = [sys.executable, "-m", "dbseal.cli.main"]
MB = 1_000_000
ROW_BYTES = 470  # about, per row of the bench table on disk


def parse_size(text: str) -> int:
    units = {"K": 10**3, "M": 10**6, "G": 10**9}
    return (
        int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)
    )


def sql(db: MariaDBSandbox, *statements: str) -> None:
    with db.connect() as conn:
        conn.autocommit(True)
        with conn.cursor() as cur:
            for st in statements:
                cur.execute(st)


def datadir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def generate(db: MariaDBSandbox, size: int) -> int:
    sql(
        db,
        "CREATE DATABASE bench",
        "CREATE TABLE bench.t (id INT PRIMARY KEY, a VARCHAR(255), b VARBINARY(200)) ENGINE=InnoDB",
    )
    rows, batch = max(1, size // ROW_BYTES), 200_000
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        sql(
            db,
            f"INSERT INTO bench.t SELECT seq, REPEAT(MD5(seq), 7), RANDOM_BYTES(200) "
            f"FROM bench.seq_{start + 1}_to_{start + n}",
        )
    sql(db, "SET GLOBAL innodb_max_dirty_pages_pct = 0")
    time.sleep(5)
    return rows


class Peak:
    """Runs a command; wall time and the peak VmHWM of the process (polled)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv, self.env = argv, env

    def run(self) -> tuple[float, float, str]:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env
        )
        hwm = 0
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.05)
        out, err = proc.communicate()
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{self.argv[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}")
        return wall, hwm / 1024, out.decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dbseal-physbench-"))
    try:
        print(render(run(work, parse_size(args.size), args.runs), args.out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size: int, runs: int) -> dict[str, Any]:
    home = work / "home"
    home.mkdir()
    key = home / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = next(
        ln.split(": ", 1)[1] for ln in key.read_text().splitlines() if "public key" in ln
    )
    with MariaDBSandbox(tls=False, binlog=True, parent_dir=work) as db:
        t0 = time.monotonic()
        rows = generate(db, size)
        gen_s = time.monotonic() - t0
        data_bytes = datadir_bytes(db.datadir)
        pw = home / "pw"
        pw.write_text(db.root_password)
        pw.chmod(0o600)
        cnf = home / "client.cnf"
        cnf.write_text(
            f"[client]\nuser=root\npassword={db.root_password}\nsocket={db.socket_path}\n"
        )
        cnf.chmod(0o600)
        repo = home / "repo"
        subprocess.run(
            [*DBSEAL, "init", str(repo), "-r", recipient, "--compress", "zstd:1"],
            check=True,
            capture_output=True,
        )
        source = [
            "--source", "mysql://root@localhost", "--socket", str(db.socket_path),
            "--password-file", str(pw), "--method", "physical",
        ]  # fmt: skip
        scratch = home / "scratch"
        peer_out = home / "peer.age"
        peer = Peak(
            [
                "bash", "-o", "pipefail", "-c",
                f"mariadb-backup --defaults-extra-file={cnf} --backup --stream=mbstream "
                f"--target-dir={scratch} | zstd -1 -T2 | age -r {recipient} > {peer_out}",
            ]
        )  # fmt: skip
        ours = Peak([*DBSEAL, "backup", "--repo", str(repo), *source, "--json"])
        rows_out: dict[str, list[tuple[float, float]]] = {"peer": [], "dbseal": []}
        loads = []
        full_id = ""
        for _ in range(runs):
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            wall, rss, _ = peer.run()
            rows_out["peer"].append((wall, rss))
            wall, rss, out = ours.run()
            rows_out["dbseal"].append((wall, rss))
            full_id = json.loads(out)["id"]
            loads.append(busy())
        peer_size = peer_out.stat().st_size
        # 1% of the rows, the newest (where writes usually go): pages, not rows, are copied
        sql(db, f"UPDATE bench.t SET a = REPEAT(MD5(-id), 7) WHERE id > {rows - rows // 100}")
        time.sleep(2)
        inc = Peak(
            [*DBSEAL, "backup", "--repo", str(repo), *source, "--incremental",
             "--base", full_id, "-i", str(key), "--json"]
        )  # fmt: skip
        inc_wall, inc_rss, out = inc.run()
        inc_id = json.loads(out)["id"]
        listing = json.loads(
            subprocess.run(
                [*DBSEAL, "list", "--repo", str(repo), "--json"], check=True, capture_output=True
            ).stdout
        )
        sizes = {b["id"]: b for b in listing["backups"]}
        version = db.version
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "server": version,
        "rows": rows,
        "gen_s": gen_s,
        "datadir_mb": data_bytes / MB,
        "runs": rows_out,
        "loads": loads,
        "peer_mb": peer_size / MB,
        "full": sizes[full_id],
        "inc": sizes[inc_id],
        "inc_wall": inc_wall,
        "inc_rss": inc_rss,
    }


def render(r: dict[str, Any], out: Path | None) -> str:
    peer = min(r["runs"]["peer"])
    ours = min(r["runs"]["dbseal"])
    ratio = ours[0] / peer[0]
    rss = max(x[1] for x in r["runs"]["dbseal"])
    full, inc = r["full"], r["inc"]
    inc_ratio = inc["stored_bytes"] / full["stored_bytes"]
    runs = ", ".join(f"{w:.1f}" for w, _ in r["runs"]["dbseal"])
    peer_runs = ", ".join(f"{w:.1f}" for w, _ in r["runs"]["peer"])
    text = f"""{START}
## Physical backups with mariadb-backup (issue 13, `bench/physical_bench.py`, {r["date"]})

{r["machine"]}; server {r["server"]} (sandbox, binlog on); datadir {r["datadir_mb"]:.0f} MB
({r["rows"]:,} rows of an InnoDB table, generated in {r["gen_s"]:.0f} s); both read the
server over its unix socket as root. Best of {len(r["runs"]["dbseal"])} interleaved runs; machine load
after each: {"; ".join(r["loads"])}. The machine is shared with other jobs (2 cores), so
the walls are noisy; rerun on a quiet machine before trusting a ratio near a target.

| what | wall s | ratio vs peer | dbseal peak RSS MB | stored MB | target | met? |
|---|---|---|---|---|---|---|
| `mariadb-backup --backup --stream=mbstream \\| zstd -1 -T2 \\| age -r KEY > file` (peer; runs {peer_runs}) | {peer[0]:.1f} | 1.00 | - | {r["peer_mb"]:.0f} | | |
| `dbseal backup --method physical` (zstd:1, one recipient; runs {runs}) | {ours[0]:.1f} | {ratio:.2f} | {rss:.0f} | {full["stored_bytes"] / MB:.0f} | wall <= 1.05x, RSS <= 250 MB | {"yes" if ratio <= 1.05 else "no"}, {"yes" if rss <= 250 else "no"} |
| `dbseal backup --method physical --incremental` after changing 1% of the rows (the newest) | {r["inc_wall"]:.1f} | | {r["inc_rss"]:.0f} | {inc["stored_bytes"] / MB:.1f} ({inc_ratio:.1%} of the full) | <= 10% of the full | {"yes" if inc_ratio <= 0.10 else "no"} |

Raw (mbstream) bytes: full {full["raw_bytes"] / MB:.0f} MB, incremental {inc["raw_bytes"] / MB:.1f} MB.
{END}
"""
    if out is not None:
        doc = out.read_text() if out.exists() else ""
        if START in doc and END in doc:
            head, rest = doc.split(START, 1)
            doc = head + text.strip() + rest.split(END, 1)[1]
        else:
            doc = doc.rstrip() + "\n\n" + text
        out.write_text(doc)
    return text


if __name__ == "__main__":
    main()
