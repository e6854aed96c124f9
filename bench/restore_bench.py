#!/usr/bin/env python3
"""Benchmark `dbseal restore` against `mariadb < dump.sql` and `myloader -t 2` (issue 16).

One sandbox server, one generated database (gen_sql.py's ``shop``: secondary indexes,
unique keys, two foreign keys; plus a wide text table ``notes`` with a secondary index and a
foreign key, made here with INSERT ... SELECT), restored in the same run, interleaved:

a. ``mariadb shop_r < dump.sql`` of a ``mariadb-dump --single-transaction`` dump (the peer);
b. ``dbseal restore --rename-db shop=shop_r`` of a ``dbseal backup`` of the same database
   (default --jobs 2), decrypting, decompressing and checking every table's digest;
c. ``myloader -t 2 -B shop_r`` of a ``mydumper -t 2 -r 100000`` dump (chunked per table);
d. ``dbseal restore --jobs 1`` (one client, the dump as it is): informative (``--jobs1``);
e. ``dbseal restore`` with the secondary keys kept in CREATE TABLE (as before issue 16):
   informative.

CPU seconds: the command's and its children's (getrusage) and mariadbd's; RSS: the restore
command's peak (GNU time). The machine may be shared: compare ratios and CPU seconds of one
run only.

Usage::

    .venv/bin/python bench/restore_bench.py [--size 500M] [--notes 100M] [--runs 1] \\
        [--out docs/benchmarks.md]
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

from backup_bench import DB, Server, _block, _private, load_data  # bench/ on sys.path
from gen_sql import parse_size
from seal_bench import MB, TIME, busy

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

START, END = "<!-- restore-bench:start -->", "<!-- restore-bench:end -->"
NEW = "shop_r"
TABLES = ("customers", "orders", "order_items", "notes")
KEYS_INLINE = (
    "import sys; import dbseal.engines.mariadb.parallel_sink as p; "
    "p.defer_keys = lambda stmt: None; from dbseal.cli.main import main; sys.exit(main())"
)


@dataclass
class Measure:
    key: str
    what: str
    argv: list[str]
    stdin: Path | None = None
    before: str | None = None  # SQL run (untimed) before
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def best(self) -> int:
        return min(range(len(self.walls)), key=self.walls.__getitem__)


def make_notes(server: Server, size: int) -> None:
    """A wide text table (about ``size`` bytes of text) with a secondary key and a FK."""
    server.execute(
        f"CREATE TABLE `{DB}`.notes (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "order_id BIGINT UNSIGNED NOT NULL, kind VARCHAR(16) NOT NULL, body MEDIUMTEXT NOT NULL, "
        "KEY idx_notes_kind (kind), KEY fk_notes_order (order_id), "
        f"CONSTRAINT fk_notes_order FOREIGN KEY (order_id) REFERENCES `{DB}`.orders (id)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
    per_row = 2000
    rows = max(1, size // per_row)
    server.execute(
        f"INSERT INTO `{DB}`.notes (order_id, kind, body) SELECT id, "
        "ELT(1 + id % 4, 'call', 'mail', 'return', 'note'), "
        "CONCAT_WS(' ', MD5(id), REPEAT(CONCAT(SHA2(id, 256), ' lorem ipsum dolor '), 23)) "
        f"FROM `{DB}`.orders ORDER BY id LIMIT {rows}"
    )


def run(m: Measure, server: Server, work: Path) -> None:
    server.execute(f"DROP DATABASE IF EXISTS `{NEW}`")
    if m.before:
        server.execute(m.before)
    server.settle()
    rss_file = work / ".rss"
    argv = [TIME, "-f", "%M", "-o", str(rss_file), *m.argv]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = server.cpu()
    t0 = time.perf_counter()
    with open(m.stdin or os.devnull, "rb") as stdin:
        proc = subprocess.run(argv, stdin=stdin, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    scpu = server.cpu() - s0
    if proc.returncode != 0:
        raise RuntimeError(f"{m.what}: exit {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    rss = int(rss_file.read_text().split()[-1]) / 1024
    got = {t: server.query(f"SELECT COUNT(*) FROM `{NEW}`.`{t}`")[0][0] for t in TABLES}
    m.walls.append(wall)
    m.cpus.append(cpu)
    m.server.append(scpu)
    m.rss.append(rss)
    print(
        f"  {m.what}: {wall:.2f} s, CPU {cpu:.2f} s + mariadbd {scpu:.2f} s, "
        f"RSS {rss:.0f} MiB, rows {got}",
        file=sys.stderr,
        flush=True,
    )
    m.__dict__.setdefault("counts", got)


def bench(args: argparse.Namespace, work: Path) -> str:
    dbseal = args.dbseal
    sandbox = MariaDBSandbox(
        tls=False,
        parent_dir=work,
        extra_args=[
            f"--innodb-buffer-pool-size={args.buffer_pool}",
            "--innodb-log-file-size=1G",
            "--innodb-log-buffer-size=64M",
            "--innodb-io-capacity=20000",
            "--innodb-io-capacity-max=40000",
        ],
    )
    sandbox.start()
    try:
        server = Server(sandbox)
        sb = sandbox
        cnf = _private(
            work / "client.cnf",
            f'[client]\nuser=root\npassword="{sb.root_password}"\nprotocol=socket\n'
            f'socket="{sb.socket_path}"\n',
        )
        pwfile = _private(work / "db.pass", sb.root_password + "\n")
        log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
        log(f"loading {args.size} of generated rows and {args.notes} of notes")
        load_data(server, cnf, parse_size(args.size))
        make_notes(server, parse_size(args.notes))
        counts = {t: server.query(f"SELECT COUNT(*) FROM `{DB}`.`{t}`")[0][0] for t in TABLES}
        log(f"source rows: {counts}")
        dump_sql = work / "dump.sql"
        with dump_sql.open("wb") as out:
            subprocess.run(
                ["mariadb-dump", f"--defaults-file={cnf}", "--single-transaction", DB],
                stdout=out,
                check=True,
            )
        mydir = work / "mydumper"
        subprocess.run(
            ["mydumper", f"--defaults-file={cnf}", "-t", "2", "-r", "100000", "-B", DB,
             "-o", str(mydir)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        ident = work / "key.txt"
        out_text = subprocess.run(
            [dbseal, "keygen", "-o", str(ident)], capture_output=True, text=True, check=True
        ).stdout
        found = re.search(r"age1[0-9a-z]+", out_text)
        assert found, out_text
        repo = work / "repo"
        subprocess.run(
            [dbseal, "init", str(repo), "-r", found.group()], check=True, capture_output=True
        )
        subprocess.run(
            [dbseal, "backup", "--repo", str(repo), "--source", f"mysql://root@localhost/{DB}",
             "--socket", str(sb.socket_path), "--password-file", str(pwfile),
             "--ssl-mode", "disabled"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        restore = [
            dbseal, "restore", "--repo", str(repo), "latest", "--target",
            "mysql://root@localhost", "--target-socket", str(sb.socket_path),
            "--target-password-file", str(pwfile), "--target-ssl-mode", "disabled",
            "-i", str(ident), "--rename-db", f"{DB}={NEW}",
        ]  # fmt: skip
        charset = "CHARACTER SET utf8mb4"
        measures = [
            Measure(
                "a",
                "a. mariadb shop_r < dump.sql (peer)",
                ["mariadb", f"--defaults-file={cnf}", NEW],
                stdin=dump_sql,
                before=f"CREATE DATABASE `{NEW}` {charset}",
            ),
            Measure("b", "b. dbseal restore --rename-db (default --jobs 2)", restore),
            Measure(
                "c",
                "c. myloader -t 2 of a mydumper -t 2 -r 100000 dump",
                ["myloader", f"--defaults-file={cnf}", "-t", "2", "-d", str(mydir), "-B", NEW],
            ),
        ]
        if args.before_issue:
            measures.append(
                Measure(
                    "e",
                    "e. dbseal restore, keys maintained row by row (before issue 16; informative)",
                    [sys.executable, "-c", KEYS_INLINE, *restore[1:]],
                )
            )
        if args.jobs1:
            measures.append(
                Measure("d", "d. dbseal restore --jobs 1 (informative)", [*restore, "--jobs", "1"])
            )
        for rnd in range(args.runs):
            log(f"round {rnd + 1}")
            for m in measures:
                run(m, server, work)
                if m.__dict__["counts"] != counts:
                    raise RuntimeError(f"{m.what}: rows {m.__dict__['counts']} != {counts}")
        server.execute(f"DROP DATABASE IF EXISTS `{NEW}`")
        facts = {
            "version": sb.version,
            "dump_mb": dump_sql.stat().st_size / MB,
            "counts": counts,
        }
    finally:
        sandbox.stop()
    return render(args, measures, facts, work, dbseal)


def render(
    args: argparse.Namespace, measures: list[Measure], facts: dict[str, object], work: Path,
    dbseal: str,
) -> str:  # fmt: skip
    peer = measures[0]
    pw = peer.walls[peer.best()]
    myl = measures[2].walls[measures[2].best()]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        START,
        "## Restore against mariadb < dump.sql and myloader (issue 16)",
        "",
        f"Run on {now} by `bench/restore_bench.py --size {args.size} --notes {args.notes} "
        f"--runs {args.runs}`; MariaDB {facts['version']}; {os.cpu_count()} cores; machine "
        f"activity before the run: {args.before}. The database: {facts['dump_mb']:.0f} MB of "
        f"mariadb-dump output, rows {facts['counts']}. Best of {args.runs} interleaved "
        "round(s); every restore's row counts checked against the source.",
        "",
        "| | wall s (best) | ratio to a | CPU s (client) | CPU s (mariadbd) | RSS MiB "
        "| target | met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for m in measures:
        i = m.best()
        ratio = m.walls[i] / pw
        target, met = "", ""
        if m.key == "b":
            target = "<= 0.33x a, < c, RSS <= 300"
            ok = ratio <= 0.33 and m.walls[i] < myl and max(m.rss) <= 300
            met = "yes" if ok else "**no**"
        lines.append(
            f"| {m.what} | {m.walls[i]:.2f} | {ratio:.2f}x | {m.cpus[i]:.1f} | "
            f"{m.server[i]:.1f} | {max(m.rss):.0f} | {target} | {met} |"
        )
    lines += ["", "Commands (`$CNF`, `$REPO`, ... are the bench's files):", "", "```"]
    for m in measures:
        cmd = shlex.join(m.argv) + (" < dump.sql" if m.stdin else "")
        cmd = cmd.replace(str(work) + "/", "$").replace(dbseal, "dbseal")
        cmd = cmd.replace(sys.executable, "python")
        cmd = re.sub(r"\$[\w./-]*mariadbd\.sock", "$SOCKET", cmd)
        for a, b in (("$client.cnf", "$CNF"), ("$repo", "$REPO"), ("$key.txt", "$IDENTITY"),
                     ("$db.pass", "$PWFILE"), ("$mydumper", "$MYDUMPER_DIR")):  # fmt: skip
            cmd = cmd.replace(a, b)
        lines += [f"# {m.what}", cmd]
    lines += ["```", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="500M", help="gen_sql.py rows (default 500M)")
    ap.add_argument("--notes", default="100M", help="text in the wide table (default 100M)")
    ap.add_argument("--runs", type=int, default=1, help="interleaved rounds (default 1)")
    ap.add_argument("--buffer-pool", default="2G")
    ap.add_argument("--no-before", dest="before_issue", action="store_false", help="skip row e")
    ap.add_argument("--jobs1", action="store_true", help="also dbseal restore --jobs 1")
    ap.add_argument("--dbseal", default=str(Path(sys.executable).parent / "dbseal"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    missing = [t for t in ("mydumper", "myloader", "mariadb-dump", TIME) if not shutil.which(t)]
    if missing:
        ap.error(f"missing tools: {', '.join(missing)} (scripts/bootstrap.sh installs them)")
    args.before = busy()
    work = Path(tempfile.mkdtemp(prefix="restore-bench-"))
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
