#!/usr/bin/env python3
"""Backup/restore benchmark: dbseal against mariadb-dump, mariadb and restic (issue 3).

One run starts a throwaway MariaDB server (:class:`dbseal.engines.mariadb.sandbox.MariaDBSandbox`, TLS
on, a buffer pool big enough to keep everything cached), loads a generated shop
database (``customers``, ``orders``, ``order_items``: the rows of
``bench/gen_sql.py``, streamed into the ``mariadb`` client) and measures:

a. ``mariadb-dump [dbseal's dump options] shop > dump.sql`` (the peer)
b. ``dbseal backup`` into a local repository (zstd:3); informative variants with
   ``--compress zstd:1``, with the table checksums off (``checksum_max_bytes=0``), and both
c. ``mariadb-dump ... | restic backup --stdin`` into a fresh restic repository per run
d. ``mariadb shop_restored < dump.sql`` (the peer; also fed through ``cat |``) against
   ``dbseal restore latest --rename-db shop=shop_restored`` (and ``--no-verify-first``),
   with dbseal's own split between its authenticate pass and its apply pass; every
   restore is checked against the source (row counts; on the last round also dbseal's
   per-table checksums against the backup's manifest)

Both dbseal and the peers connect over TCP with TLS (``verify-identity`` against the
sandbox CA) using the same option-file lines (dbseal's own ``option_lines``). Runs are
interleaved (a, b, ..., a, b, ...) so that slow drifts of the machine hit every row
alike; "wall" is the best of ``--runs``. Before every run the server is left to settle
(dirty pages flushed, CPU idle) and the rest of the machine must be quiet; a run during
which other processes were busy is repeated. CPU is GNU time's user + system of the client
processes (children included) plus the ``mariadbd`` CPU used during the run (from
``/proc``); peak RSS is GNU time's ``%M``.

Usage (from the repository root)::

    .venv/bin/python bench/backup_bench.py [--size 500M] [--runs 3] [--git-rev HEAD] \\
        [--out docs/benchmarks.md]

Without ``--out`` the Markdown section is printed. With it, only the block between
``<!-- backup-bench:start -->`` and ``<!-- backup-bench:end -->`` is replaced (appended
if missing); inside it, the hand-written profile notes between
``<!-- backup-bench-notes:start -->`` and ``<!-- backup-bench-notes:end -->`` are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen_sql import generate, parse_size  # bench/ is sys.path[0] when this file is run
from seal_bench import INTRO, MB, TIME, Stage, busy, export_rev, fs_type

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.defaults_file import option_lines
from dbseal.engines.mariadb.mysql_sink import CLIENT_OPTIONS
from dbseal.engines.mariadb.mysql_url import parse_mysql_url
from dbseal.engines.mariadb.redump import redump_digests
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.engines.mariadb.stats import TableStat, compare_stats, prepare_session, table_stats
from dbseal.engines.mariadb.tabledigest import with_digests

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
START, END = "<!-- backup-bench:start -->", "<!-- backup-bench:end -->"
NOTES_START, NOTES_END = "<!-- backup-bench-notes:start -->", "<!-- backup-bench-notes:end -->"
DB, DB_NEW = "shop", "shop_restored"
TABLES = ("customers", "orders", "order_items")
SSL_MODE = "verify-identity"
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUIET = 0.15  # busy cores of other processes under which a run may start
DISTURBED = 0.25  # busy cores of other processes over which a run is repeated
RETRIES = 3


# --------------------------------------------------------------------------- the server


class Server:
    """The sandbox plus the small SQL helpers the benchmark needs (always autocommit)."""

    def __init__(self, sandbox: MariaDBSandbox) -> None:
        self.sb = sandbox

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        conn = self.sb.connect()
        try:
            conn.autocommit(True)  # the sandbox's connections start with autocommit off
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def execute(self, *statements: str) -> None:
        with self.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def cpu(self) -> float:
        """User + system CPU seconds of mariadbd so far."""
        stat = Path(f"/proc/{self.sb.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def row_counts(self, db: str) -> dict[str, int]:
        return {t: int(self.query(f"SELECT COUNT(*) FROM `{db}`.`{t}`")[0][0]) for t in TABLES}

    def settle(self, timeout: float = 180.0) -> float:
        """Flush dirty pages and wait until mariadbd is idle; returns the seconds waited."""
        t0 = time.monotonic()
        (pct,) = self.query("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")[0]
        self.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        try:
            quiet, prev = 0, self.cpu()
            while time.monotonic() - t0 < timeout and quiet < 2:
                time.sleep(0.5)
                now = self.cpu()
                rows = self.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
                dirty = int(rows[0][1]) if rows else 0
                quiet = quiet + 1 if now - prev < 0.03 and dirty < 64 else 0
                prev = now
        finally:
            self.execute(f"SET GLOBAL innodb_max_dirty_pages_pct = {float(pct)}")
        return time.monotonic() - t0


# --------------------------------------------------------------------------- running


def machine_cpu() -> float:
    """CPU seconds spent busy (not idle or iowait) by the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def wait_for_quiet(limit: float, timeout: float) -> float:
    """Wait until the machine's other work stays under ``limit`` cores for 2 s in a row.

    Returns the seconds waited; gives up (and returns) after ``timeout`` seconds.
    """
    t0 = time.monotonic()
    quiet = 0
    while quiet < 2 and time.monotonic() - t0 < timeout:
        c0, w0 = machine_cpu(), time.monotonic()
        time.sleep(1.0)
        used = (machine_cpu() - c0) / (time.monotonic() - w0)
        quiet = quiet + 1 if used < limit else 0
    return time.monotonic() - t0


@dataclass
class RunFacts:
    wall: float
    client_cpu: float
    server_cpu: float
    rss_kib: list[int]
    stdout: str
    other_cpu: float  # busy CPU seconds of the rest of the machine during the run
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measure:
    """One row of the table: a pipeline, untimed hooks around it, and its runs."""

    key: str
    what: str
    stages: list[Stage]
    rss_stages: list[int] | None = None  # which stages count for the RSS column
    before: Callable[[], None] | None = None  # untimed, before settling
    after: Callable[[RunFacts, int], None] | None = None  # untimed; (facts, round)
    env: dict[str, str] | None = None
    runs: list[RunFacts] = field(default_factory=list)
    size_bytes: int | None = None
    discarded: int = 0  # runs repeated because other processes were busy

    @property
    def best(self) -> RunFacts:
        return min(self.runs, key=lambda r: r.wall)

    @property
    def rss_mb(self) -> float:
        idx = self.rss_stages if self.rss_stages is not None else range(len(self.stages))
        return max(sum(r.rss_kib[i] for i in idx) for r in self.runs) * 1024 / MB

    def command(self, names: dict[str, str]) -> str:
        env = " ".join(f"{k}={v}" for k, v in (self.env or {}).items())
        text = (env + " " if env else "") + " | ".join(s.shell(None) for s in self.stages)
        for path, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(path, name)
        return text


class Runner:
    def __init__(self, server: Server, workdir: Path, quiet_timeout: float) -> None:
        self.server = server
        self.workdir = workdir
        self.quiet_timeout = quiet_timeout

    @staticmethod
    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def run_once(self, m: Measure, rnd: int) -> RunFacts:
        if m.before is not None:
            m.before()
        settled = self.server.settle()
        waited = wait_for_quiet(QUIET, self.quiet_timeout)
        if settled + waited > 3:
            self.log(f"  (waited {settled:.0f} s for mariadbd, {waited:.0f} s for the machine)")
        rss_files = [self.workdir / f".rss{i}" for i in range(len(m.stages))]
        out_file = self.workdir / ".stdout"
        stages = list(m.stages)
        if stages[-1].stdout is None:  # keep what the last stage prints (dbseal's summary)
            last = stages[-1]
            stages[-1] = Stage(last.argv, last.stdin, str(out_file))
        script = "set -o pipefail; " + " | ".join(
            s.shell(f) for s, f in zip(stages, rss_files, strict=True)
        )
        env = {**os.environ, **(m.env or {})}
        cpu0, all0 = self.server.cpu(), machine_cpu()
        t0 = time.perf_counter()
        proc = subprocess.run(["bash", "-c", script], stderr=subprocess.PIPE, env=env, check=False)
        wall = time.perf_counter() - t0
        server_cpu, all_cpu = self.server.cpu() - cpu0, machine_cpu() - all0
        if proc.returncode != 0:
            raise RuntimeError(
                f"{m.what}: exit status {proc.returncode}\n  {script}\n"
                + proc.stderr.decode(errors="replace")
            )
        rss, cpu = [], 0.0
        for f in rss_files:
            kib, user, system = _read_time(f)
            rss.append(kib)
            cpu += user + system
        stdout = out_file.read_text() if out_file.exists() else ""
        out_file.unlink(missing_ok=True)
        other = max(0.0, all_cpu - cpu - server_cpu)
        facts = RunFacts(wall, cpu, server_cpu, rss, stdout, other)
        if m.after is not None:
            m.after(facts, rnd)
        self.log(
            f"  {m.what}: round {rnd + 1}: {wall:.2f} s, CPU {cpu:.2f} s + mariadbd "
            f"{server_cpu:.2f} s, RSS {max(rss) / 1024:.0f} MiB, others {other:.2f} s"
        )
        return facts

    def rounds(self, measures: Sequence[Measure], n: int) -> None:
        """``n`` rounds, each running every measure once (interleaved).

        A run during which the rest of the machine kept more than ``DISTURBED`` cores busy
        is thrown away and repeated, at most ``RETRIES`` times (then the last one counts).
        """
        for rnd in range(n):
            for m in measures:
                for attempt in range(RETRIES + 1):
                    facts = self.run_once(m, rnd)
                    if facts.other_cpu <= DISTURBED * facts.wall or attempt == RETRIES:
                        break
                    m.discarded += 1
                    self.log("  (disturbed by other processes: repeated)")
                m.runs.append(facts)
        for m in measures:
            b = m.best
            self.log(
                f"{m.what}: best {b.wall:.2f} s, CPU {b.client_cpu:.2f} + {b.server_cpu:.2f} s, "
                f"RSS {m.rss_mb:.0f} MB"
            )


def _read_time(path: Path) -> tuple[int, float, float]:
    """GNU time's ``%M %U %S`` (KiB, s, s): the file's last line (earlier ones are notes)."""
    rss, user, system = path.read_text().splitlines()[-1].split()
    return int(rss), float(user), float(system)


def _out(cmd: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    return (proc.stdout or proc.stderr).strip()


def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- loading


def _mariadb_ddl(piece: bytes) -> bytes:
    """gen_sql writes MySQL 8 DDL: MariaDB 10.11 lacks utf8mb4_0900_ai_ci, and the row
    halves gen_sql recombines repeat e-mails and order numbers, so no UNIQUE keys."""
    if piece.startswith(b"INSERT INTO"):
        return piece
    return piece.replace(b"utf8mb4_0900_ai_ci", b"utf8mb4_unicode_ci").replace(
        b"UNIQUE KEY", b"KEY"
    )


def load_data(server: Server, cnf: Path, size: int) -> tuple[float, int]:
    """Create ``shop`` and stream gen_sql's dump into it; returns (seconds, bytes)."""
    server.execute(f"CREATE DATABASE `{DB}`")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["mariadb", f"--defaults-file={cnf}", *CLIENT_OPTIONS, DB],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    sent = 0
    try:
        for piece in generate(size):
            piece = _mariadb_ddl(piece)
            proc.stdin.write(piece)
            sent += len(piece)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise RuntimeError(f"loading the data failed: {err.decode(errors='replace')}")
    return time.perf_counter() - t0, sent


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Row:
    m: Measure
    peer: Measure | None = None
    target: str = ""
    met: str | None = None
    wall: float | None = None  # overrides m.best.wall (the restore passes)
    what: str | None = None
    informative: bool = False


@dataclass
class Report:
    rows: list[Row]
    commands: list[tuple[str, str]]
    facts: list[str]
    checks: list[str]
    load: list[str]
    dump_bytes: int
    server_version: str
    repeated: int = 0  # runs thrown away because other processes were busy


def backup_bench(args: argparse.Namespace, work: Path) -> Report:
    log = Runner.log
    dbseal = args.dbseal
    size = parse_size(args.size)
    sandbox = MariaDBSandbox(
        tls=True,
        parent_dir=work,
        extra_args=[
            f"--innodb-buffer-pool-size={args.buffer_pool}",
            "--innodb-log-file-size=1G",
            "--innodb-log-buffer-size=64M",
            "--innodb-io-capacity=20000",  # flush fast between runs (files on tmpfs/SSD)
            "--innodb-io-capacity-max=40000",
        ],
    )
    log("starting the MariaDB sandbox")
    sandbox.start()
    try:
        return _bench(args, work, Server(sandbox), dbseal, size)
    finally:
        sandbox.stop()


def _bench(args: argparse.Namespace, work: Path, server: Server, dbseal: str, size: int) -> Report:
    log = Runner.log
    sb = server.sb
    pwfile = _private(work / "db.pass", sb.root_password + "\n")
    socket_cnf = _private(
        work / "socket.cnf",
        f'[client]\nuser=root\npassword="{sb.root_password}"\nprotocol=socket\n'
        f'socket="{sb.socket_path}"\n',
    )
    # The peers read the very [client] lines dbseal writes for its own children.
    target = parse_mysql_url(
        f"mysql://root@127.0.0.1:{sb.port}", ssl_mode=SSL_MODE, ssl_ca=str(sb.ca_cert)
    )
    lines = option_lines(target, Secret(sb.root_password.encode()), "mariadb")
    cnf = _private(work / "client.cnf", (b"\n".join(lines) + b"\n").decode())
    tls = ["--ssl-mode", SSL_MODE, "--ssl-ca", str(sb.ca_cert)]
    ttls = ["--target-ssl-mode", SSL_MODE, "--target-ssl-ca", str(sb.ca_cert)]

    log(f"loading {args.size} of generated rows (gen_sql.py rows, streamed into mariadb)")
    load_s, load_bytes = load_data(server, socket_cnf, size)
    counts = server.row_counts(DB)
    inno = server.query(
        "SELECT SUM(DATA_LENGTH), SUM(INDEX_LENGTH) FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s",
        (DB,),
    )[0]
    charset, collation = server.query(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        (DB,),
    )[0]
    log(
        f"loaded {load_bytes / MB:.1f} MB of SQL in {load_s:.1f} s "
        f"({load_bytes / MB / load_s:.1f} MB/s): {counts}"
    )

    # keys and repositories
    ident = work / "key.txt"
    recipient = subprocess.run(
        [dbseal, "keygen", "-o", str(ident)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"age1[0-9a-z]+", recipient)
    assert found, f"dbseal keygen printed no recipient: {recipient!r}"
    key = found.group()
    repo = work / "repo"
    repo_z3 = work / "repo-zstd3"
    repo_server = work / "repo-server-checksums"
    repo_nock = work / "repo-nochecksum"
    for path, extra in (
        (repo, []),
        (repo_z3, ["--compress", "zstd:3"]),
        (repo_server, ["--policy", "table_checksum=server"]),
        (repo_nock, ["--policy", "table_checksum=off"]),
    ):
        subprocess.run(
            [dbseal, "init", str(path), "-r", key, *extra], check=True, capture_output=True
        )
    source = f"mysql://root@127.0.0.1:{sb.port}/{DB}"
    backup_cmd = [dbseal, "backup", "--source", source, "--password-file", str(pwfile), *tls]

    # A first, untimed backup warms everything up and tells the dump options dbseal uses.
    log("warm-up: one dbseal backup (untimed)")
    warm = subprocess.run(
        [*backup_cmd[:2], "--repo", str(repo), *backup_cmd[2:]],
        capture_output=True,
        text=True,
        check=True,
    )
    manifest = _manifest(repo, warm.stdout)
    dump_options = [str(o) for o in manifest["source"]["dump_options"]]
    restic_pw = _private(work / "restic.pass", os.urandom(24).hex() + "\n")
    dump_sql = work / "dump.sql"
    dump = [
        "mariadb-dump",
        f"--defaults-file={cnf}",
        *dump_options,
        DB,
    ]

    def S(*argv: str, stdin: Path | None = None, stdout: Path | str | None = None) -> Stage:
        return Stage(argv, str(stdin) if stdin else None, str(stdout) if stdout else None)

    def backup_facts(repo_dir: Path) -> Callable[[RunFacts, int], None]:
        def after(facts: RunFacts, _rnd: int) -> None:
            facts.extra["manifest"] = _manifest(repo_dir, facts.stdout)

        return after

    restic_repo = work / "restic-repo"
    restic_env = {
        "RESTIC_REPOSITORY": str(restic_repo),
        "RESTIC_PASSWORD_FILE": str(restic_pw),
        "RESTIC_CACHE_DIR": str(work / "restic-cache"),
    }

    def restic_init() -> None:
        shutil.rmtree(restic_repo, ignore_errors=True)
        shutil.rmtree(work / "restic-cache", ignore_errors=True)
        subprocess.run(
            ["restic", "init"],
            env={**os.environ, **restic_env},
            check=True,
            capture_output=True,
        )

    def restic_after(facts: RunFacts, _rnd: int) -> None:
        facts.extra["repo_bytes"] = _du(restic_repo)

    a = Measure("a", "a. mariadb-dump > dump.sql (peer)", [S(*dump, stdout=dump_sql)], after=None)
    b = Measure(
        "b",
        "b. dbseal backup (defaults: zstd:1, table digests from the dump)",
        [S(*backup_cmd[:2], "--repo", str(repo), *backup_cmd[2:])],
        after=backup_facts(repo),
    )
    b1 = Measure(
        "b1",
        "b. dbseal backup, repository codec zstd:3",
        [S(*backup_cmd[:2], "--repo", str(repo_z3), *backup_cmd[2:])],
        after=backup_facts(repo_z3),
    )
    b2 = Measure(
        "b2",
        "b. dbseal backup, table_checksum=server (md5-sum64 in the server)",
        [S(*backup_cmd[:2], "--repo", str(repo_server), *backup_cmd[2:])],
        after=backup_facts(repo_server),
    )
    b3 = Measure(
        "b3",
        "b. dbseal backup, table_checksum=off (row counts only)",
        [S(*backup_cmd[:2], "--repo", str(repo_nock), *backup_cmd[2:])],
        after=backup_facts(repo_nock),
    )
    sealed = work / "dump.sql.zst.age"

    def sealed_size(facts: RunFacts, _rnd: int) -> None:
        facts.extra["out_bytes"] = sealed.stat().st_size
        sealed.unlink()

    p1 = Measure(
        "p1",
        "p. mariadb-dump | zstd -1 -T1 | age (C tools, no hashing)",
        [S(*dump), S("zstd", "-q", "-1", "-T1", "-c"), S("age", "-r", key, stdout=sealed)],
        after=sealed_size,
    )
    p3 = Measure(
        "p3",
        "p. mariadb-dump | zstd -3 -T1 | age (C tools, no hashing)",
        [S(*dump), S("zstd", "-q", "-3", "-T1", "-c"), S("age", "-r", key, stdout=sealed)],
        after=sealed_size,
    )
    backups = [a, b, b1, b2, b3, p1, p3]
    c: Measure | None = None
    if shutil.which("restic"):
        c = Measure(
            "c",
            "c. mariadb-dump | restic backup --stdin",
            [S(*dump), S("restic", "backup", "--stdin", "--stdin-filename", "dump.sql")],
            before=restic_init,
            after=restic_after,
            env=restic_env,
        )
        backups.append(c)

    log(f"backups: {args.runs} interleaved round(s) of {len(backups)}")
    Runner(server, work, args.quiet_timeout).rounds(backups, args.runs)
    a.size_bytes = dump_sql.stat().st_size
    dump_bytes = a.size_bytes
    for m in (b, b1, b2, b3):
        man = m.best.extra["manifest"]
        m.size_bytes = int(man["sizes"]["stored"])
    for m in (p1, p3):
        m.size_bytes = m.best.extra.get("out_bytes")
    if c is not None:
        c.size_bytes = int(c.best.extra["repo_bytes"])
    # `latest` in `repo` (the restores' source) is a backup of row b (the defaults).

    # --- restores
    source_stats = [_stat_from_json(t) for t in b.best.extra["manifest"].get("tables", [])]
    checks: dict[str, str] = {}

    def drop_new() -> None:
        server.execute(f"DROP DATABASE IF EXISTS `{DB_NEW}`")

    def create_new() -> None:
        drop_new()
        server.execute(f"CREATE DATABASE `{DB_NEW}` CHARACTER SET {charset} COLLATE {collation}")

    def verify(label: str) -> Callable[[RunFacts, int], None]:
        def after(facts: RunFacts, rnd: int) -> None:
            auth = re.search(r"authenticated(?: first)? in ([\d.]+) s", facts.stdout)
            apply = re.search(r"applied in ([\d.]+) s", facts.stdout)
            if auth:
                facts.extra["authenticate_s"] = float(auth.group(1))
            if apply:
                facts.extra["apply_s"] = float(apply.group(1))
            got = server.row_counts(DB_NEW)
            if got != counts:
                raise RuntimeError(f"{label}: restored row counts {got} differ from {counts}")
            if rnd == args.restore_runs - 1:
                diffs = _compare_checksums(server, sb, source_stats)
                checks[label] = f"{label}: row counts equal in every round" + (
                    "; every table dumped again has the backup's dump-sha256 digest"
                    if not diffs
                    else f"; CHECKSUM DIFFERENCES: {'; '.join(diffs)}"
                )
            drop_new()

        return after

    restore_cmd = [
        dbseal,
        "restore",
        "--repo",
        str(repo),
        "latest",
        "--target",
        f"mysql://root@127.0.0.1:{sb.port}",
        "--target-password-file",
        str(pwfile),
        *ttls,
        "-i",
        str(ident),
        "--rename-db",
        f"{DB}={DB_NEW}",
    ]
    d0 = Measure(
        "d0",
        f"d. mariadb {DB_NEW} < dump.sql (peer)",
        [S("mariadb", f"--defaults-file={cnf}", *CLIENT_OPTIONS, DB_NEW, stdin=dump_sql)],
        before=create_new,
        after=verify("mariadb < dump.sql"),
    )
    d1 = Measure(
        "d1",
        "d. dbseal restore --rename-db (default --jobs 2)",
        [S(*restore_cmd)],
        before=drop_new,
        after=verify("dbseal restore"),
    )
    d2 = Measure(
        "d2",
        "d. dbseal restore --rename-db --jobs 1 (one client, the dump as it is)",
        [S(*restore_cmd, "--jobs", "1")],
        before=drop_new,
        after=verify("dbseal restore --jobs 1"),
    )
    restores = [d0, d1, d2]
    if args.restore_runs > 0:
        log(f"restores: {args.restore_runs} interleaved round(s) of {len(restores)}")
        Runner(server, work, args.quiet_timeout).rounds(restores, args.restore_runs)

    # --- rows
    rows = [
        Row(a),
        _backup_row(b, a),
        Row(b1, a, informative=True),
        Row(b2, a, informative=True),
        Row(b3, a, informative=True),
        Row(p1, a, informative=True),
        Row(p3, a, informative=True),
    ]
    if c is not None:
        rows.append(Row(c, a))
    if args.restore_runs > 0:
        best = d1.best
        auth, apply = best.extra.get("authenticate_s"), best.extra.get("apply_s")
        ok = d1.best.wall <= d0.best.wall
        rows += [Row(d0), Row(d1, d0, "<= 1.0x peer", "yes" if ok else "**no**")]
        if auth is not None and apply is not None:
            rows += [
                Row(d1, None, wall=auth, what="  of which: authenticate pass (dbseal's timing)"),
                Row(d1, d0, wall=apply, what="  of which: apply pass (dbseal's timing)"),
            ]
        rows.append(Row(d2, d0, informative=True))

    names = {
        str(cnf): "$CNF",
        str(pwfile): "$PWFILE",
        str(ident): "$IDENTITY",
        str(sb.ca_cert): "$CA",
        str(repo_nock): "$REPO_NOCHECKSUM",
        str(repo_server): "$REPO_SERVER_CHECKSUMS",
        str(repo_z3): "$REPO_ZSTD3",
        key: "$RECIPIENT",
        str(sealed): "dump.sql.zst.age",
        str(repo): "$REPO",
        str(restic_repo): "$RESTIC_REPO",
        str(restic_pw): "$RESTIC_PWFILE",
        str(work / "restic-cache"): "$RESTIC_CACHE",
        str(dump_sql): "dump.sql",
        str(sb.port): "$PORT",
        dbseal: "dbseal",
        str(work) + "/": "",
    }
    commands = [(m.what, m.command(names)) for m in [*backups, *restores] if m.runs]

    man = b.best.extra["manifest"]
    sizes = man["sizes"]
    tables = man.get("tables", [])
    facts = [
        f"status `{man['status']}`"
        + (f" ({'; '.join(man['reasons'])})" if man.get("reasons") else ""),
        f"raw {sizes['raw'] / MB:.1f} MB, compressed {sizes['compressed'] / MB:.1f} MB, "
        f"stored {sizes['stored'] / MB:.1f} MB ({100 * sizes['stored'] / sizes['raw']:.1f}%)",
        f"duration_s {man['duration_s']} (dbseal's own clock, the run above took "
        f"{b.best.wall:.2f} s with start-up)",
        f"codec `{man['codec']}`, snapshot `{man.get('snapshot')}`, TLS "
        f"`{(man.get('tls') or {}).get('version')}` `{(man.get('tls') or {}).get('cipher')}`",
        "tables: " + ", ".join(f"{t['table']} {t['rows']} rows ({t['method']})" for t in tables),
        f"dump options: `{' '.join(dump_options)}` (plus `--databases -- {DB}`; the peer "
        f"rows use the same options with just `{DB}`)",
    ]
    b1_man = b1.best.extra["manifest"]["sizes"]
    facts.append(
        f"zstd:3 stores {b1_man['stored'] / MB:.1f} MB "
        f"({100 * b1_man['stored'] / b1_man['raw']:.1f}%)"
    )
    load = [
        f"{load_bytes / MB:.1f} MB of generated SQL (`gen_sql.py --size {args.size}` rows) "
        f"loaded in {load_s:.1f} s ({load_bytes / MB / load_s:.1f} MB/s) through `mariadb`",
        "rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()),
        f"InnoDB size: data {int(inno[0]) / MB:.0f} MB + indexes {int(inno[1]) / MB:.0f} MB "
        f"(information_schema estimate)",
        f"`mariadb-dump` output: {dump_bytes / MB:.1f} MB",
    ]
    if dump_bytes < size:
        load.append(f"**note:** the dump is smaller than the requested {args.size}")
    repeated = sum(m.discarded for m in [*backups, *restores])
    return Report(
        rows, commands, facts, list(checks.values()), load, dump_bytes, sb.version, repeated
    )


def _backup_row(b: Measure, a: Measure) -> Row:
    ratio = b.best.wall / a.best.wall
    wall_ok, rss_ok = ratio <= 1.05, b.rss_mb < 250
    if wall_ok and rss_ok:
        met = "yes"
    else:
        missed = [n for n, ok in (("wall", wall_ok), ("RSS", rss_ok)) if not ok]
        met = f"**no** ({', '.join(missed)})"
    return Row(b, a, "<= 1.05x peer; RSS < 250 MB", met)


def _manifest(repo: Path, stdout: str) -> dict[str, Any]:
    m = re.search(r"\b\d{8}T\d{6}Z-[0-9a-f]{8}\b", stdout)  # the backup id
    if not m:
        raise RuntimeError(f"no backup id in dbseal's output: {stdout!r}")
    doc: dict[str, Any] = json.loads((repo / "manifests" / f"{m.group()}.json").read_text())
    return doc


def _stat_from_json(t: dict[str, Any]) -> TableStat:
    return TableStat(t["database"], t["table"], int(t["rows"]), t.get("checksum"), t["method"])


def _compare_checksums(server: Server, sb: MariaDBSandbox, expected: list[TableStat]) -> list[str]:
    """The restored copy dumped again: each table's digest against the backup's."""
    if not expected:
        return ["the backup recorded no table statistics"]
    target = parse_mysql_url(
        "mysql://root@localhost", socket=str(sb.socket_path), ssl_mode="disabled"
    )
    found = redump_digests(target, Secret(sb.root_password.encode()), [DB], {DB: DB_NEW})
    with server.cursor() as cur:
        conn = cur.connection
        prepare_session(conn)
        counted = table_stats(conn, [DB], 0, rename={DB: DB_NEW})
    return compare_stats(expected, with_digests(counted, found.digests))


# --------------------------------------------------------------------------- rendering


TABLE_HEAD = (
    "| what | wall s | ratio vs peer | CPU s | peak RSS MB | size MB | target | met? |\n"
    "|---|---:|---:|---:|---:|---:|---|---|"
)
CPU_HEAD = (
    "| what | wall s | client CPU s | mariadbd CPU s | total CPU s | cores busy "
    "| other processes CPU s |\n"
    "|---|---:|---:|---:|---:|---:|---:|"
)


def _fmt_row(row: Row, dump_bytes: int) -> str:
    m = row.m
    best = m.best
    wall = row.wall if row.wall is not None else best.wall
    ratio = f"{wall / row.peer.best.wall:.2f}" if row.peer else "—"
    split = row.wall is not None
    cpu = "—" if split else f"{best.client_cpu + best.server_cpu:.1f}"
    rss = "—" if split else f"{m.rss_mb:.0f}"
    if m.size_bytes is not None and not split:
        size = f"{m.size_bytes / MB:.1f}"
        if m.key != "a":
            size += f" ({100 * m.size_bytes / dump_bytes:.1f}%)"
    else:
        size = "—"
    what = (row.what or m.what).replace("|", "\\|")
    target = row.target or ("(informative)" if row.informative else "—")
    return (
        f"| {what} | {wall:.2f} | {ratio} | {cpu} | {rss} | {size} | {target} | {row.met or '—'} |"
    )


def _fmt_cpu(m: Measure) -> str:
    b = m.best
    total = b.client_cpu + b.server_cpu
    what = m.what.replace("|", "\\|")
    return (
        f"| {what} | {b.wall:.2f} | {b.client_cpu:.2f} | {b.server_cpu:.2f} | {total:.2f} | "
        f"{total / b.wall:.2f} | {b.other_cpu:.2f} |"
    )


def machine_info(dbseal: str, git_rev: str | None, sandbox_version: str) -> list[str]:
    cpu, mem = "unknown", ""
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1).strip() if m else cpu
        m = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        mem = f", {int(m.group(1)) / 2**20:.1f} GiB RAM" if m else ""
    except OSError:
        pass
    git = _out(["git", "-C", str(REPO), "rev-parse", "--short", git_rev or "HEAD"])
    dirty = "" if git_rev else _out(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
    libs = _out(
        [
            sys.executable,
            "-c",
            "import sys, zstandard, cryptography, pymysql; print(sys.version.split()[0], "
            "zstandard.__version__, cryptography.__version__, pymysql.__version__)",
        ]
    ).split()
    restic = _out(["restic", "version"]).split(" compiled")[0]
    return [
        f"- CPU: {cpu}, nproc {_out(['nproc'])}{mem}; Linux {platform.release()}",
        f"- dbseal: `{_out([dbseal, '--version'])}` (git {git}"
        + (", exported with `git archive`" if git_rev else "")
        + (", working tree with uncommitted changes under src/" if dirty else "")
        + ")"
        + (
            f"; Python {libs[0]}, python-zstandard {libs[1]}, cryptography {libs[2]}, "
            f"PyMySQL {libs[3]}"
            if len(libs) == 4
            else ""
        ),
        f"- server: MariaDB {sandbox_version} (sandbox); clients: "
        f"`{_out(['mariadb-dump', '--version'])}`; {restic}",
    ]


def render(report: Report, args: argparse.Namespace, machine: list[str]) -> str:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    rerun = (
        f".venv/bin/python bench/backup_bench.py --size {args.size} --runs {args.runs}"
        + (f" --restore-runs {args.restore_runs}" if args.restore_runs != args.runs else "")
        + (f" --buffer-pool {args.buffer_pool}" if args.buffer_pool != "3G" else "")
        + (f" --git-rev {args.git_rev}" if args.git_rev else "")
        + (f" --workdir {args.workdir}" if args.workdir_given else "")
        + " --out docs/benchmarks.md"
    )
    workdir = args.workdir or tempfile.gettempdir()
    fs = fs_type(Path(workdir))
    table = "\n".join(_fmt_row(r, report.dump_bytes) for r in report.rows)
    seen: list[Measure] = []
    for r in report.rows:
        if r.m not in seen:
            seen.append(r.m)
    cpu_table = "\n".join(_fmt_cpu(m) for m in seen)
    cmds = "\n".join(f"# {what}\n{cmd}" for what, cmd in report.commands)
    bullets = "\n".join(f"- {x}" for x in report.load)
    facts = "\n".join(f"- {x}" for x in report.facts)
    checks = "\n".join(f"- {x}" for x in report.checks) or "- (no restore was run)"
    return f"""{START}
## Backup and restore (issue 3)

Generated by `bench/backup_bench.py` on {now}. Rerun from the repository root:

```sh
{rerun}
```

**Data:** a throwaway MariaDB server (`MariaDBSandbox`: TLS on, `--innodb-buffer-pool-size={args.buffer_pool}`,
1 GiB redo log, its data directory in a temporary directory under `{workdir}` ({fs}))
holding database `{DB}` with tables `customers`, `orders` and `order_items` (ints, decimals,
dates, names, free text; the rows of `bench/gen_sql.py`, without its UNIQUE keys because
its recombined rows repeat e-mails and order numbers). Everything is cached in the buffer
pool; dumps, repositories and the server's files are all in that directory.

{bullets}

**Method:** every client (dbseal, mariadb-dump, mariadb, restic) connects over TCP to
127.0.0.1 with TLS, `ssl-mode={SSL_MODE}` against the sandbox CA; the peers use an option
file with the very lines dbseal writes for its own children. The rows are run in
interleaved rounds ({args.runs} for the backups, {args.restore_runs} for the restores); "wall s" is the
best round and the other figures come from that same round. Before each run the server
flushes its dirty pages and goes idle (not timed). "CPU s" is user + system time of the
client processes (GNU time, children included: dbseal's figure contains its
mariadb-dump or mariadb child) **plus the mariadbd CPU used during the run** (from
`/proc`); the second table splits the two. Peak RSS is GNU time's `%M` of the client
processes (for dbseal: the largest of dbseal and its child; restic's row sums
mariadb-dump and restic); mariadbd's memory is not counted. "ratio vs peer" divides by
the wall of row a (backups) or of the `mariadb < dump.sql` row (restores). Size is the
dump file, dbseal's stored data object (manifest `sizes.stored`), or the whole fresh
restic repository, with the share of the dump size. Every restore goes into a fresh
`{DB_NEW}` (dropped after each round, not timed) and is checked against the source.

{TABLE_HEAD}
{table}

**Where the CPU goes** (the best round of each row; "cores busy" = total CPU / wall, out of
{os.cpu_count()}; the last column is what the rest of the machine used meanwhile, from `/proc/stat`.
Before each run the benchmark waits until the rest of the machine uses under {QUIET} cores, and a run
during which it used more than {DISTURBED} cores is repeated: {report.repeated} run(s) were repeated):

{CPU_HEAD}
{cpu_table}

**dbseal backup manifest** (row b, best round):

{facts}

**Restores checked:**

{checks}

<details><summary>Exact commands</summary>

```sh
{cmds}
```
</details>

{NOTES_START}
{NOTES_END}

**Machine:**

{chr(10).join(machine)}
{END}"""


def _block(text: str, start: str, end: str) -> tuple[int, int] | None:
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    return (i, j + len(end)) if i >= 0 and j >= 0 else None


def update_doc(path: Path, section: str) -> None:
    old = path.read_text() if path.exists() else INTRO
    span = _block(old, NOTES_START, NOTES_END)
    notes = (
        old[span[0] : span[1]]
        if span
        else f"{NOTES_START}\n_No profile notes have been written for this section yet._\n"
        f"{NOTES_END}"
    )
    section = section.replace(f"{NOTES_START}\n{NOTES_END}", notes)
    span = _block(old, START, END)
    if span:
        new = old[: span[0]] + section + old[span[1] :]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new)
    tmp.replace(path)


# --------------------------------------------------------------------------- main


def default_workdir(size: int) -> str | None:
    """/dev/shm if it is a tmpfs with room for the run, else None (the system default)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or fs_type(shm) != "tmpfs":
        return None
    st = os.statvfs(shm)
    need = 8 * size + (3 << 30)  # two database copies, redo log, dump, repositories
    return str(shm) if st.f_bavail * st.f_frsize > need else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Benchmark dbseal backup/restore against mariadb-dump, mariadb and restic."
    )
    ap.add_argument("--size", default="500M", help="generated SQL to load (default: 500M)")
    ap.add_argument("--runs", type=int, default=3, help="backup rounds, best kept (3)")
    ap.add_argument(
        "--restore-runs", type=int, default=None, help="restore rounds (default: --runs; 0: none)"
    )
    ap.add_argument(
        "--buffer-pool", default="3G", help="InnoDB buffer pool of the sandbox (default: 3G)"
    )
    ap.add_argument(
        "--dbseal", default=None, help="dbseal executable (default: next to this Python)"
    )
    ap.add_argument(
        "--git-rev",
        metavar="REV",
        help="benchmark dbseal as of this git revision (exported with `git archive` into the "
        "temporary directory), e.g. while src/ is being edited",
    )
    ap.add_argument(
        "--workdir",
        default=None,
        help="parent of the temporary directory (default: /dev/shm when it is a tmpfs with "
        "room, else the system temporary directory)",
    )
    ap.add_argument(
        "--quiet-timeout",
        type=float,
        default=600.0,
        help="before each run, wait up to this many seconds for the rest of the machine to "
        "fall under 0.15 busy cores (default: 600)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--out", type=Path, help="update this Markdown file (else print)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.restore_runs is None:
        args.restore_runs = args.runs
    if args.dbseal is None and not args.git_rev:
        local = Path(sys.executable).parent / "dbseal"
        args.dbseal = str(local) if local.exists() else shutil.which("dbseal")
    missing = [
        t
        for t in (args.dbseal or "git", "mariadb-dump", "mariadb", TIME, "bash")
        if not t or not shutil.which(t)
    ]
    if missing:
        ap.error(f"missing tools: {', '.join(str(m) for m in missing)}")
    args.workdir_given = args.workdir is not None
    if args.workdir is None:
        args.workdir = default_workdir(parse_size(args.size))

    def terminated(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds: the sandbox stops, the directory goes

    signal.signal(signal.SIGTERM, terminated)
    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir=args.workdir))
    try:
        if args.git_rev:
            args.dbseal = export_rev(args.git_rev, work / "snapshot")
        args.dbseal = str(Path(shutil.which(args.dbseal) or args.dbseal).absolute())
        before = busy()
        report = backup_bench(args, work)
        machine = machine_info(args.dbseal, args.git_rev, report.server_version)
        machine.append(
            f"- other activity on the machine: before the run {before}; after it (the run's own "
            f"processes count too) {busy()}"
        )
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    section = render(report, args, machine)
    if args.out:
        update_doc(args.out, section)
        print(f"updated {args.out}", file=sys.stderr)
    else:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
