#!/usr/bin/env python3
"""Physical restore benchmark (issue 13): ``dbseal restore ID --datadir DIR`` against the
same steps done by hand: ``age -d | zstd -d | mbstream -x``, ``mariadb-backup --prepare``,
``mariadb-backup --move-back``.

One run starts a throwaway MariaDB server, generates a datadir of at least ``--size``
(default 1G, :func:`physical_bench.generate`), takes one full backup both ways (dbseal
``--method physical`` with zstd:1 into a local repository; ``mariadb-backup --stream |
zstd -1 -T2 | age -r KEY`` into a file), stops the server, then, interleaved ``--runs``
times, restores both into fresh directories with the same ``--use-memory``. dbseal's
time includes what the hand-made steps do not: authenticating the manifests and every
chunk, the SHA-256 of the plaintext, the datadir checks and the chown. Peak RSS is the
dbseal process's own ``VmHWM``.

Usage (from the repository root)::

    .venv/bin/python bench/physical_restore_bench.py [--size 1G] [--runs 2] [--out docs/benchmarks.md]

With ``--out`` only the block between ``<!-- physical-restore-bench:start -->`` and
``<!-- physical-restore-bench:end -->`` is replaced (appended if missing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from physical_bench import DBSEAL, MB, Peak, datadir_bytes, generate, parse_size
from seal_bench import busy

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

START, END = "<!-- physical-restore-bench:start -->", "<!-- physical-restore-bench:end -->"
MEMORY = "512M"


def _backups(work: Path, size: int) -> dict[str, Any]:
    home = work / "home"
    home.mkdir()
    key = home / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = next(
        ln.split(": ", 1)[1] for ln in key.read_text().splitlines() if "public key" in ln
    )
    with MariaDBSandbox(tls=False, parent_dir=work) as db:
        rows = generate(db, size)
        data_mb = datadir_bytes(db.datadir) / MB
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
            check=True, capture_output=True,
        )  # fmt: skip
        out = subprocess.run(
            [*DBSEAL, "backup", "--repo", str(repo), "--source", "mysql://root@localhost",
             "--socket", str(db.socket_path), "--password-file", str(pw), "--method",
             "physical", "--json"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        scratch = home / "scratch"
        scratch.mkdir()
        peer = home / "peer.age"
        subprocess.run(
            ["bash", "-o", "pipefail", "-c",
             f"mariadb-backup --defaults-extra-file={cnf} --backup --stream=mbstream "
             f"--target-dir={scratch} 2>/dev/null | zstd -1 -T2 | age -r {recipient} > {peer}"],
            check=True,
        )  # fmt: skip
        version = db.version
    return {
        "key": key, "repo": repo, "peer": peer, "id": json.loads(out)["id"], "rows": rows,
        "datadir_mb": data_mb, "server": version,
    }  # fmt: skip


def run(work: Path, size: int, runs: int) -> dict[str, Any]:
    b = _backups(work, size)
    timings: dict[str, list[tuple[float, float]]] = {"peer": [], "dbseal": []}
    loads: list[str] = []
    phases: list[dict[str, float]] = []
    for i in range(runs):
        stage, target = work / f"peer-stage-{i}", work / f"peer-data-{i}"
        stage.mkdir()
        peer = Peak(
            ["bash", "-o", "pipefail", "-c",
             f"age -d -i {b['key']} {b['peer']} | zstd -d | mbstream -x -C {stage} && "
             f"mariadb-backup --prepare --target-dir={stage} --use-memory={MEMORY} 2>/dev/null && "
             f"mariadb-backup --move-back --target-dir={stage} --datadir={target} 2>/dev/null"]
        )  # fmt: skip
        timings["peer"].append(peer.run()[:2])
        ours = Peak(
            [*DBSEAL, "restore", "--repo", str(b["repo"]), b["id"], "--datadir",
             str(work / f"dbseal-data-{i}"), "-i", str(b["key"]), "--prepare-memory", MEMORY,
             "--json"]
        )  # fmt: skip
        wall, rss, out = ours.run()
        timings["dbseal"].append((wall, rss))
        doc = json.loads(out)
        phases.append(
            {k: doc[k] for k in ("authenticate_s", "extract_s", "prepare_s", "install_s")}
        )
        loads.append(busy())
        for path in (stage, target, work / f"dbseal-data-{i}"):
            shutil.rmtree(path, ignore_errors=True)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "server": b["server"],
        "rows": b["rows"],
        "datadir_mb": b["datadir_mb"],
        "runs": timings,
        "loads": loads,
        "phases": phases,
    }


def render(r: dict[str, Any], out: Path | None) -> str:
    peer, ours = min(r["runs"]["peer"]), min(r["runs"]["dbseal"])
    ratio = ours[0] / peer[0]
    rss = max(x[1] for x in r["runs"]["dbseal"])
    text = "\n".join(
        [
            START,
            f"### Physical restore ({r['date']})",
            "",
            f"{r['machine']}; MariaDB {r['server']}; datadir {r['datadir_mb']:.0f} MB "
            f"({r['rows']} rows); prepare memory {MEMORY}; best of {len(r['runs']['peer'])} "
            f"interleaved runs; load during the runs: {', '.join(str(x) for x in r['loads'])}.",
            "",
            "| restore | wall time | peak RSS |",
            "|---|---|---|",
            f"| `age -d \\| zstd -d \\| mbstream -x`, `--prepare`, `--move-back` | {peer[0]:.1f} s | |",
            f"| `dbseal restore --datadir` (authenticated, extract, prepare, move) | {ours[0]:.1f} s | {rss:.0f} MB |",
            "",
            "dbseal's phases (s): "
            + "; ".join(
                ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in p.items()) for p in r["phases"]
            ),
            "",
            f"dbseal / by hand: **{ratio:.2f}x** (target <= 1.1x: "
            f"{'met' if ratio <= 1.1 else 'NOT met'}); peak RSS target <= 250 MB: "
            f"{'met' if rss <= 250 else 'NOT met'}.",
            "",
            "Rerun: `.venv/bin/python bench/physical_restore_bench.py --out docs/benchmarks.md`.",
            END,
        ]
    )
    if out is not None:
        doc = out.read_text() if out.exists() else ""
        if START in doc and END in doc:
            doc = doc[: doc.index(START)] + text + doc[doc.index(END) + len(END) :]
        else:
            doc = doc.rstrip() + "\n\n" + text + "\n"
        out.write_text(doc)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dbseal-physrestorebench-"))
    t0 = time.monotonic()
    try:
        print(render(run(work, parse_size(args.size), args.runs), args.out))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
