#!/usr/bin/env python3
"""Benchmark `dbseal verify --level restore` against `dbseal restore` of the same backup.

Issue 16's target: verify at restore level (its own throwaway server started, loaded,
compared, stopped) takes at most 1.2x the wall time of `dbseal restore` of the same backup
into a normal, already running server. One run, interleaved rounds, best wall time kept:

a. ``dbseal restore --rename-db`` into the bench's running sandbox (the peer);
b. ``dbseal verify --level restore`` (the scratch-tuned throwaway server, this checkout);
c. the same verify with the throwaway server as it was before issue 16 (256 MiB buffer
   pool, durable redo log, data under the system temporary directory): informative.

CPU seconds are those of the command and its children (getrusage; the throwaway server is
dbseal's child) plus, for the restore, the running server's. The machine may be shared:
compare the ratios and CPU seconds of one run, never the wall times of two.

Usage::

    .venv/bin/python bench/verify_restore_bench.py [--size 300M] [--runs 2] \\
        [--out docs/benchmarks.md]

With ``--out`` only the block between ``<!-- verify-restore-bench:start -->`` and
``<!-- verify-restore-bench:end -->`` is replaced (appended if missing).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from backup_bench import DB, DB_NEW, Server, _block, _private, load_data  # bench/ on sys.path
from gen_sql import parse_size
from seal_bench import MB, busy

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

START, END = "<!-- verify-restore-bench:start -->", "<!-- verify-restore-bench:end -->"
UNTUNED = (
    "import sys; import dbseal.engines.mariadb.scratch_tuning as t; "
    "t.scratch_plan = lambda raw, m: t.ScratchPlan("
    "('--innodb-buffer-pool-size=256M',), None, 256 << 20, 16 << 20, False); "
    "from dbseal.cli.main import main; sys.exit(main())"
)


@dataclass
class Measure:
    key: str
    what: str
    argv: list[str]
    server_cpu: bool = False
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)

    def best(self) -> int:
        return min(range(len(self.walls)), key=self.walls.__getitem__)


def _children_cpu() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def run(m: Measure, server: Server) -> None:
    cpu0, _ = _children_cpu()
    s0 = server.cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(m.argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    cpu1, _ = _children_cpu()
    if proc.returncode != 0:
        raise RuntimeError(f"{m.what}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    cpu = cpu1 - cpu0 + (server.cpu() - s0 if m.server_cpu else 0.0)
    m.walls.append(wall)
    m.cpus.append(cpu)
    m.outs.append(proc.stdout)
    print(f"  {m.what}: {wall:.2f} s, CPU {cpu:.2f} s", file=sys.stderr, flush=True)


def bench(args: argparse.Namespace, work: Path) -> str:
    dbseal = args.dbseal
    sandbox = MariaDBSandbox(
        tls=False,
        parent_dir=work,
        extra_args=["--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M"],
    )
    sandbox.start()
    try:
        server = Server(sandbox)
        sb = sandbox
        socket_cnf = _private(
            work / "socket.cnf",
            f'[client]\nuser=root\npassword="{sb.root_password}"\nprotocol=socket\n'
            f'socket="{sb.socket_path}"\n',
        )
        pwfile = _private(work / "db.pass", sb.root_password + "\n")
        print(f"loading {args.size} of generated rows", file=sys.stderr, flush=True)
        load_s, load_bytes = load_data(server, socket_cnf, parse_size(args.size))
        ident = work / "key.txt"
        out = subprocess.run(
            [dbseal, "keygen", "-o", str(ident)], capture_output=True, text=True, check=True
        ).stdout
        found = re.search(r"age1[0-9a-z]+", out)
        assert found, out
        repo = work / "repo"
        subprocess.run(
            [dbseal, "init", str(repo), "-r", found.group()], check=True, capture_output=True
        )
        url = f"mysql://root@localhost/{DB}"
        subprocess.run(
            [dbseal, "backup", "--repo", str(repo), "--source", url, "--socket",
             str(sb.socket_path), "--password-file", str(pwfile), "--ssl-mode", "disabled"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        restore = Measure(
            "a",
            "a. dbseal restore --rename-db (running server; the peer)",
            [dbseal, "restore", "--repo", str(repo), "latest", "--target",
             "mysql://root@localhost", "--target-socket", str(sb.socket_path),
             "--target-password-file", str(pwfile), "--target-ssl-mode", "disabled",
             "-i", str(ident), "--rename-db", f"{DB}={DB_NEW}"],
            server_cpu=True,
        )  # fmt: skip
        verify_args = ["verify", "--repo", str(repo), "latest", "--level", "restore", "-i"]
        tuned = Measure(
            "b",
            "b. dbseal verify --level restore (scratch-tuned throwaway server)",
            [dbseal, *verify_args, str(ident)],
        )
        untuned = Measure(
            "c",
            "c. the same with the throwaway server's pre-issue-16 options (informative)",
            [sys.executable, "-c", UNTUNED, *verify_args, str(ident)],
        )
        measures = [restore, tuned] + ([untuned] if args.untuned else [])
        for rnd in range(args.runs):
            print(f"round {rnd + 1}", file=sys.stderr, flush=True)
            for m in measures:
                server.execute(f"DROP DATABASE IF EXISTS `{DB_NEW}`")
                server.settle()
                run(m, server)
        server.execute(f"DROP DATABASE IF EXISTS `{DB_NEW}`")
        version = sb.version
    finally:
        sandbox.stop()
    return render(args, measures, load_bytes, load_s, version, work, dbseal)


def render(
    args: argparse.Namespace,
    measures: list[Measure],
    load_bytes: int,
    load_s: float,
    version: str,
    work: Path,
    dbseal: str,
) -> str:
    peer = measures[0]
    pw = peer.walls[peer.best()]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        START,
        "## Verify at restore level against restore (issue 16)",
        "",
        f"Run on {now} by `bench/verify_restore_bench.py --size {args.size} --runs {args.runs}`"
        f"; MariaDB {version}; {os.cpu_count()} cores; machine activity before the run: "
        f"{args.before}. Generated `shop` database: {load_bytes / MB:.0f} MB of SQL "
        f"(loaded in {load_s:.0f} s). Best of {args.runs} interleaved rounds; CPU is the "
        "command's and its children's (the throwaway server is one), plus the running "
        "server's for the restore.",
        "",
        "| | wall s (best) | ratio to a | CPU s | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for m in measures:
        i = m.best()
        ratio = m.walls[i] / pw
        target, met = "", ""
        if m.key == "b":
            target, met = "<= 1.2x", "yes" if ratio <= 1.2 else "**no**"
        lines.append(
            f"| {m.what} | {m.walls[i]:.2f} | {ratio:.2f}x | {m.cpus[i]:.1f} | {target} | {met} |"
        )
    out = measures[1].outs[measures[1].best()]
    summary = next((ln for ln in out.splitlines() if "restore " in ln and " s" in ln), "")
    if summary:
        lines += ["", f"dbseal's own line for b: `{summary.strip()}`"]
    lines += ["", "Commands (`$REPO`, `$IDENTITY`, `$SOCKET`, `$PWFILE` are the bench's):", ""]
    lines.append("```")
    for m in measures:
        cmd = shlex.join(m.argv).replace(str(work) + "/", "$")
        cmd = cmd.replace(dbseal, "dbseal").replace(sys.executable, "python")
        cmd = re.sub(r"\$[\w./-]*mariadbd\.sock", "$SOCKET", cmd)
        cmd = cmd.replace("$repo", "$REPO").replace("$key.txt", "$IDENTITY")
        cmd = cmd.replace("$db.pass", "$PWFILE")
        lines += [f"# {m.what}", cmd]
    lines += ["```", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="300M", help="generated SQL (default 300M)")
    ap.add_argument("--runs", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--no-untuned", dest="untuned", action="store_false")
    ap.add_argument("--dbseal", default=str(Path(sys.executable).parent / "dbseal"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    args.before = busy()
    work = Path(tempfile.mkdtemp(prefix="vr-bench-"))
    try:
        section = bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        text = args.out.read_text()
        span = _block(text, START, END)
        text = (
            text[: span[0]] + section + text[span[1] :]
            if span
            else text.rstrip("\n") + "\n\n" + section + "\n"
        )
        args.out.write_text(text)
    else:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
