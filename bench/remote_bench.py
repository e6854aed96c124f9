#!/usr/bin/env python3
"""Remote-repository benchmark: dbseal backup into local, S3 and receiver repositories (issue 5).

One run starts a throwaway MariaDB server (:class:`dbseal.engines.mariadb.sandbox.MariaDBSandbox`, as
``bench/backup_bench.py`` does: TLS on, a buffer pool big enough to keep everything
cached), loads one generated shop database (the rows of ``bench/gen_sql.py``, streamed
into the ``mariadb`` client), and backs it up with ``dbseal backup`` into three
repositories of the same kind of content:

a. a local repository (a directory next to the server's files)
b. an ``s3://`` repository in moto's S3 server (``moto_server``) on loopback, with
   fake credentials (``AWS_ACCESS_KEY_ID=testing``, as the test suite does)
c. a ``dbseal serve`` receiver on loopback (mutual TLS 1.3, certificates from
   ``dbseal tls init`` / ``dbseal tls issue``) backed by a local repository

then, for each of the three, ``dbseal verify --level integrity`` of the newest backup
and ``dbseal restore latest --rename-db shop=shop_restored`` (dropped after every run,
not timed; every restore is checked against the source's row counts).

Runs are interleaved (a, b, c, a, b, c, ...) so that slow drifts of the machine hit every
row alike; "wall" is the best of ``--runs``. Before every run the MariaDB server flushes its
dirty pages and goes idle and the benchmark waits until the rest of the machine is quiet; a
run during which other processes kept more than a quarter of a core busy is repeated.
dbseal's CPU and peak RSS come from GNU time (``%U %S %M``; children included, i.e. its
mariadb-dump or mariadb child). The CPU that mariadbd, moto_server and the receiver used
during each run comes from ``/proc/PID/stat`` before and after; their peak RSS during the run
from ``VmHWM`` (reset through ``/proc/PID/clear_refs`` before each run).

Usage (from the repository root)::

    .venv/bin/python bench/remote_bench.py [--size 500M] [--runs 3] [--out docs/benchmarks.md]

Without ``--out`` the Markdown section is printed. With it, only the block between
``<!-- remote-bench:start -->`` and ``<!-- remote-bench:end -->`` is replaced (appended if
missing); inside it, hand-written notes between ``<!-- remote-bench-notes:start -->`` and
``<!-- remote-bench-notes:end -->`` are kept.
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
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

from backup_bench import (  # bench/ is sys.path[0] when this file is run
    CLK_TCK,
    DB,
    DB_NEW,
    DISTURBED,
    QUIET,
    RETRIES,
    SSL_MODE,
    Server,
    load_data,
    machine_cpu,
    wait_for_quiet,
)
from gen_sql import parse_size
from seal_bench import INTRO, MB, TIME, Stage, busy, export_rev, fs_type

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
START, END = "<!-- remote-bench:start -->", "<!-- remote-bench:end -->"
NOTES_START, NOTES_END = "<!-- remote-bench-notes:start -->", "<!-- remote-bench-notes:end -->"
BUCKET, PREFIX = "dbseal-bench", "repo"
TINY = "tiny"  # a two-row database: backups whose cost is all fixed
LOOPBACK = "127.0.0.1"
WALL_TARGET = 1.15  # remote backup wall / local backup wall (issue 5)
RSS_TARGET_MB = 300.0  # peak RSS of the dbseal process (issue 5)
KINDS = ("local", "s3", "tls")
KIND_LABEL = {
    "local": "local repository",
    "s3": "S3 (moto_server)",
    "tls": "receiver (dbseal serve, mTLS)",
}
KIND_SHORT = {"local": "the local repository", "s3": "S3 (moto)", "tls": "the receiver"}
LETTER = {"local": "a", "s3": "b", "tls": "c"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helper servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Helper:
    """A server process the benchmark started (moto_server, dbseal serve): CPU, memory, stop."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        with log_path.open("ab") as fh:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C reaches the driver, which stops it in order
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_listening(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not _port_open(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} did not start listening on {port}:\n{tail}")
            time.sleep(0.05)

    def cpu(self) -> float:
        """User + system CPU seconds of the process (all its threads) so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def reset_peak(self) -> None:
        """Start a new peak-RSS window (``VmHWM``); Linux >= 4.0, needs to own the process."""
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_kib(self) -> int:
        m = re.search(r"^VmHWM:\s*(\d+) kB", Path(f"/proc/{self.pid}/status").read_text(), re.M)
        return int(m.group(1)) if m else 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def aws_env(work: Path) -> dict[str, str]:
    """The environment of every dbseal run: fake credentials, no ~/.aws, no metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(work / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(work / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def start_moto(work: Path) -> tuple[Helper, int]:
    """moto's S3 server on loopback; it spools objects into ``work`` (tmpfs like the others)."""
    port = free_port()
    spool = work / "moto-tmp"
    spool.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["TMPDIR"] = str(spool)
    local = Path(sys.executable).parent / "moto_server"
    argv = [str(local)] if local.exists() else [sys.executable, "-m", "moto.server"]
    helper = Helper("moto_server", [*argv, "-H", LOOPBACK, "-p", str(port)], work / "moto.log", env)
    helper.wait_listening(port)
    return helper, port


def make_bucket(port: int) -> None:
    import boto3  # the driver's venv has dbseal's dependencies

    client = boto3.client(
        "s3",
        endpoint_url=f"http://{LOOPBACK}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)


def s3_manifest(port: int, bid: str) -> dict[str, Any]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://{LOOPBACK}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    body = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/manifests/{bid}.json")["Body"].read()
    doc: dict[str, Any] = json.loads(body)
    return doc


@dataclass
class TLSFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(dbseal: str, ca_dir: Path) -> TLSFiles:
    subprocess.run([dbseal, "tls", "init", "--dir", str(ca_dir)], check=True, capture_output=True)
    subprocess.run(
        [dbseal, "tls", "issue", "--dir", str(ca_dir), "--server", "localhost", "--ip", LOOPBACK],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [dbseal, "tls", "issue", "--dir", str(ca_dir), "--client", "bench"],
        check=True,
        capture_output=True,
    )
    return TLSFiles(
        ca_dir / "ca-cert.pem",
        ca_dir / "localhost-cert.pem",
        ca_dir / "localhost-key.pem",
        ca_dir / "bench-cert.pem",
        ca_dir / "bench-key.pem",
    )


def start_receiver(dbseal: str, work: Path, repo: Path, tls: TLSFiles) -> tuple[Helper, int]:
    port = free_port()
    argv = [
        dbseal,
        "serve",
        "--listen",
        f"{LOOPBACK}:{port}",
        "--repo",
        str(repo),
        "--cert",
        str(tls.server_cert),
        "--key",
        str(tls.server_key),
        "--client-ca",
        str(tls.ca),
    ]
    helper = Helper("dbseal serve", argv, work / "receiver.log", dict(os.environ))
    helper.wait_listening(port)
    return helper, port


# --------------------------------------------------------------------------- running


@dataclass
class RunFacts:
    wall: float
    cpu: float  # dbseal (and its children), GNU time
    rss_kib: int
    mariadbd_cpu: float
    helper_cpu: dict[str, float]
    helper_peak_kib: dict[str, int]
    other_cpu: float
    stdout: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measure:
    key: str
    kind: str
    op: str  # backup, verify, restore
    what: str
    argv: list[str]
    before: Callable[[], None] | None = None
    after: Callable[[RunFacts, int], None] | None = None
    runs: list[RunFacts] = field(default_factory=list)
    discarded: int = 0

    @property
    def best(self) -> RunFacts:
        return min(self.runs, key=lambda r: r.wall)

    @property
    def rss_mb(self) -> float:
        return max(r.rss_kib for r in self.runs) * 1024 / MB


class Runner:
    def __init__(
        self,
        server: Server,
        helpers: dict[str, Helper],
        workdir: Path,
        env: dict[str, str],
        quiet_timeout: float,
    ) -> None:
        self.server = server
        self.helpers = helpers
        self.workdir = workdir
        self.env = env
        self.quiet_timeout = quiet_timeout

    def run_once(self, m: Measure, rnd: int) -> RunFacts:
        if m.before is not None:
            m.before()
        settled = self.server.settle()
        waited = wait_for_quiet(QUIET, self.quiet_timeout)
        if settled + waited > 3:
            log(f"  (waited {settled:.0f} s for mariadbd, {waited:.0f} s for the machine)")
        rss_file, out_file = self.workdir / ".rss", self.workdir / ".stdout"
        script = "set -o pipefail; " + Stage(m.argv, None, str(out_file)).shell(rss_file)
        for h in self.helpers.values():
            h.reset_peak()
        h0 = {k: h.cpu() for k, h in self.helpers.items()}
        db0, all0 = self.server.cpu(), machine_cpu()
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["bash", "-c", script], stderr=subprocess.PIPE, env=self.env, check=False
        )
        wall = time.perf_counter() - t0
        db_cpu, all_cpu = self.server.cpu() - db0, machine_cpu() - all0
        helper_cpu = {k: h.cpu() - h0[k] for k, h in self.helpers.items()}
        helper_peak = {k: h.peak_kib() for k, h in self.helpers.items()}
        stdout = out_file.read_text() if out_file.exists() else ""
        out_file.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{m.what}: exit status {proc.returncode}\n  {script}\n{stdout}"
                + proc.stderr.decode(errors="replace")
            )
        kib, user, system = _read_time(rss_file)
        cpu = user + system
        other = max(0.0, all_cpu - cpu - db_cpu - sum(helper_cpu.values()))
        facts = RunFacts(wall, cpu, kib, db_cpu, helper_cpu, helper_peak, other, stdout)
        if m.after is not None:
            m.after(facts, rnd)
        helpers = ", ".join(f"{k} {v:.2f} s" for k, v in helper_cpu.items())
        log(
            f"  {m.what}: round {rnd + 1}: {wall:.2f} s, CPU {cpu:.2f} s, mariadbd "
            f"{db_cpu:.2f} s, {helpers}, RSS {kib / 1024:.0f} MiB, others {other:.2f} s"
        )
        return facts

    def rounds(self, measures: Sequence[Measure], n: int) -> None:
        for rnd in range(n):
            for m in measures:
                for attempt in range(RETRIES + 1):
                    facts = self.run_once(m, rnd)
                    if facts.other_cpu <= DISTURBED * facts.wall or attempt == RETRIES:
                        break
                    m.discarded += 1
                    log("  (disturbed by other processes: repeated)")
                m.runs.append(facts)
        for m in measures:
            b = m.best
            log(f"{m.what}: best {b.wall:.2f} s, CPU {b.cpu:.2f} s, RSS {m.rss_mb:.0f} MB")


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


def _backup_id(stdout: str) -> str:
    m = re.search(r"\b\d{8}T\d{6}Z-[0-9a-f]{8}\b", stdout)
    if not m:
        raise RuntimeError(f"no backup id in dbseal's output: {stdout!r}")
    return m.group()


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Report:
    measures: dict[str, Measure]  # by key: a-backup, b-verify, ...
    load: list[str]
    facts: list[str]
    checks: list[str]
    commands: list[tuple[str, str]]
    server_version: str
    dump_bytes: int
    repeated: int


@contextlib.contextmanager
def servers(args: argparse.Namespace, work: Path) -> Iterator[tuple[Server, dict[str, Helper]]]:
    """The MariaDB sandbox and the helper servers, stopped whatever happens."""
    sandbox = MariaDBSandbox(
        tls=True,
        parent_dir=work,
        extra_args=[
            f"--innodb-buffer-pool-size={args.buffer_pool}",
            "--innodb-log-file-size=1G",
            "--innodb-log-buffer-size=64M",
            "--innodb-io-capacity=20000",
            "--innodb-io-capacity-max=40000",
        ],
    )
    helpers: dict[str, Helper] = {}
    try:
        log("starting the MariaDB sandbox")
        sandbox.start()
        yield Server(sandbox), helpers
    finally:
        for name, h in reversed(list(helpers.items())):
            log(f"stopping {name}")
            h.stop()
        log("stopping the MariaDB sandbox")
        sandbox.stop()


def remote_bench(args: argparse.Namespace, work: Path) -> Report:
    with servers(args, work) as (server, helpers):
        return _bench(args, work, server, helpers)


def _bench(
    args: argparse.Namespace, work: Path, server: Server, helpers: dict[str, Helper]
) -> Report:
    dbseal = args.dbseal
    sb = server.sb
    size = parse_size(args.size)
    env = aws_env(work)
    pwfile = _private(work / "db.pass", sb.root_password + "\n")
    socket_cnf = _private(
        work / "socket.cnf",
        f'[client]\nuser=root\npassword="{sb.root_password}"\nprotocol=socket\n'
        f'socket="{sb.socket_path}"\n',
    )

    # --- the data: gen_sql rows (mariadb-dump writes them back at about the same size)
    log(f"loading {args.size} of generated rows (gen_sql.py, streamed into mariadb)")
    load_s, load_bytes = load_data(server, socket_cnf, size)
    counts = server.row_counts(DB)
    log(f"loaded {load_bytes / MB:.1f} MB of SQL in {load_s:.1f} s: {counts}")

    # --- keys, certificates, helper servers, repositories
    ident = work / "key.txt"
    out = subprocess.run(
        [dbseal, "keygen", "-o", str(ident)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"age1[0-9a-z]+", out)
    assert found, f"dbseal keygen printed no recipient: {out!r}"
    key = found.group()

    log("starting moto_server")
    helpers["moto"], moto_port = start_moto(work)
    make_bucket(moto_port)
    tls = make_certs(dbseal, work / "ca")
    recv_repo = work / "receiver-repo"
    log("starting dbseal serve")
    helpers["receiver"], recv_port = start_receiver(dbseal, work, recv_repo, tls)

    local_repo = work / "repo"
    s3_url = f"s3://{BUCKET}/{PREFIX}?" + urlencode(
        {"endpoint": f"http://{LOOPBACK}:{moto_port}", "path_style": "1", "region": "us-east-1"},
        safe=":/",
    )
    tls_url = f"dbseal+tls://{LOOPBACK}:{recv_port}"
    tls_args = [
        "--tls-ca",
        str(tls.ca),
        "--tls-cert",
        str(tls.client_cert),
        "--tls-key",
        str(tls.client_key),
    ]
    repo_args = {
        "local": ["--repo", str(local_repo)],
        "s3": ["--repo", s3_url],
        "tls": ["--repo", tls_url, *tls_args],
    }
    init_args = {"local": [str(local_repo)], "s3": [s3_url], "tls": [tls_url, *tls_args]}
    for kind in KINDS:
        subprocess.run(
            [dbseal, "init", *init_args[kind], "-r", key],
            check=True,
            capture_output=True,
            env=env,
        )

    def manifest(kind: str, bid: str) -> dict[str, Any]:
        if kind == "s3":
            return s3_manifest(moto_port, bid)
        base = local_repo if kind == "local" else recv_repo
        doc: dict[str, Any] = json.loads((base / "manifests" / f"{bid}.json").read_text())
        return doc

    db_tls = ["--ssl-mode", SSL_MODE, "--ssl-ca", str(sb.ca_cert)]

    def backup_argv(kind: str, db: str = DB) -> list[str]:
        return [
            dbseal,
            "backup",
            *repo_args[kind],
            "--source",
            f"mysql://root@127.0.0.1:{sb.port}/{db}",
            "--password-file",
            str(pwfile),
            *db_tls,
        ]

    # --- untimed warm-up: one backup into each repository
    dump_bytes = 0
    for kind in KINDS:
        log(f"warm-up: one dbseal backup into the {KIND_LABEL[kind]} (untimed)")
        warm = subprocess.run(backup_argv(kind), capture_output=True, text=True, env=env)
        if warm.returncode != 0:
            raise RuntimeError(f"warm-up backup ({kind}) failed:\n{warm.stdout}{warm.stderr}")
        man = manifest(kind, _backup_id(warm.stdout))
        dump_bytes = int(man["sizes"]["raw"])
    log(f"the dump is {dump_bytes / MB:.1f} MB")

    # --- a tiny database, backed up once into each repository: the fixed cost of a verify
    server.execute(
        f"CREATE DATABASE `{TINY}`",
        f"CREATE TABLE `{TINY}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{TINY}`.t VALUES (1, 'one'), (2, 'two')",
    )
    tiny_id: dict[str, str] = {}
    for kind in KINDS:
        tiny = subprocess.run(backup_argv(kind, TINY), capture_output=True, text=True, env=env)
        if tiny.returncode != 0:
            raise RuntimeError(f"tiny backup ({kind}) failed:\n{tiny.stdout}{tiny.stderr}")
        tiny_id[kind] = _backup_id(tiny.stdout)
    tiny_bytes = int(manifest("local", tiny_id["local"])["sizes"]["stored"])

    def after_backup(kind: str) -> Callable[[RunFacts, int], None]:
        def after(facts: RunFacts, _rnd: int) -> None:
            facts.extra["manifest"] = manifest(kind, _backup_id(facts.stdout))

        return after

    measures: dict[str, Measure] = {}
    backups = []
    for kind in KINDS:
        m = Measure(
            f"{LETTER[kind]}-backup",
            kind,
            "backup",
            f"{LETTER[kind]}. backup → {KIND_LABEL[kind]}",
            backup_argv(kind),
            after=after_backup(kind),
        )
        measures[m.key] = m
        backups.append(m)

    runner = Runner(server, helpers, work, env, args.quiet_timeout)
    log(f"backups: {args.runs} interleaved round(s) of {len(backups)}")
    runner.rounds(backups, args.runs)

    # --- verify --level integrity of the last backup of each repository, and of its tiny one
    big_id = {
        k: str(measures[f"{LETTER[k]}-backup"].runs[-1].extra["manifest"]["id"]) for k in KINDS
    }
    verifies = []
    for key, ids, label in (
        ("verify", big_id, ""),
        ("verify-tiny", tiny_id, f", {tiny_bytes / 1000:.0f} kB backup (fixed cost)"),
    ):
        for kind in KINDS:
            m = Measure(
                f"{LETTER[kind]}-{key}",
                kind,
                key,
                f"{LETTER[kind]}. verify --level integrity ← {KIND_LABEL[kind]}{label}",
                [dbseal, "verify", *repo_args[kind], ids[kind], "--level", "integrity"],
            )
            measures[m.key] = m
            verifies.append(m)
    if args.verify_runs > 0:
        log(f"verify: {args.verify_runs} interleaved round(s) of {len(verifies)}")
        runner.rounds(verifies, args.verify_runs)

    # --- restore latest into a fresh database of each repository
    checks: dict[str, str] = {}

    def drop_new() -> None:
        server.execute(f"DROP DATABASE IF EXISTS `{DB_NEW}`")

    def check_restore(label: str) -> Callable[[RunFacts, int], None]:
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
            checks[label] = f"{label}: row counts equal to the source's in all {rnd + 1} round(s)"
            drop_new()

        return after

    restores = []
    for kind in KINDS:
        m = Measure(
            f"{LETTER[kind]}-restore",
            kind,
            "restore",
            f"{LETTER[kind]}. restore --rename-db ← {KIND_LABEL[kind]}",
            [
                dbseal,
                "restore",
                *repo_args[kind],
                big_id[kind],
                "--target",
                f"mysql://root@127.0.0.1:{sb.port}",
                "--target-password-file",
                str(pwfile),
                "--target-ssl-mode",
                SSL_MODE,
                "--target-ssl-ca",
                str(sb.ca_cert),
                "-i",
                str(ident),
                "--rename-db",
                f"{DB}={DB_NEW}",
            ],
            before=drop_new,
            after=check_restore(f"restore from {KIND_SHORT[kind]}"),
        )
        measures[m.key] = m
        restores.append(m)
    if args.restore_runs > 0:
        log(f"restores: {args.restore_runs} interleaved round(s) of {len(restores)}")
        runner.rounds(restores, args.restore_runs)

    # --- facts for the report
    names = {
        str(pwfile): "$PWFILE",
        str(ident): "$IDENTITY",
        str(sb.ca_cert): "$DB_CA",
        str(local_repo): "$REPO",
        s3_url: f'"s3://{BUCKET}/{PREFIX}?endpoint=http://127.0.0.1:$MOTO_PORT&path_style=1'
        '&region=us-east-1"',
        tls_url: "dbseal+tls://127.0.0.1:$RECEIVER_PORT",
        str(tls.ca): "ca/ca-cert.pem",
        str(tls.client_cert): "ca/bench-cert.pem",
        str(tls.client_key): "ca/bench-key.pem",
        str(sb.port): "$DB_PORT",
        **{i: "$ID" for i in big_id.values()},
        **{i: "$TINY_ID" for i in tiny_id.values()},
        dbseal: "dbseal",
    }
    commands = [(m.what, _command(m.argv, names)) for m in measures.values() if m.runs]
    setup = [
        (
            "moto_server (its own Python; no AWS_* variables; TMPDIR in the work directory)",
            f"moto_server -H 127.0.0.1 -p $MOTO_PORT   # bucket {BUCKET} made with boto3",
        ),
        (
            "the receiver",
            _command(helpers["receiver"].argv, {**names, str(recv_repo): "receiver-repo"})
            .replace(str(tls.server_cert), "ca/localhost-cert.pem")
            .replace(str(tls.server_key), "ca/localhost-key.pem")
            .replace(str(recv_port), "$RECEIVER_PORT"),
        ),
    ]
    commands = setup + commands

    b = measures["a-backup"].best.extra["manifest"]
    sizes = b["sizes"]
    facts = [
        f"raw (the dump) {sizes['raw'] / MB:.1f} MB, compressed {sizes['compressed'] / MB:.1f} "
        f"MB, stored {sizes['stored'] / MB:.1f} MB ({100 * sizes['stored'] / sizes['raw']:.1f}%), "
        f"codec `{b['codec']}` (the repositories' default), status `{b['status']}`",
        "every repository holds the same backups: one untimed warm-up of `shop`, one of the two-row "
        f"database `{TINY}` (for the fixed-cost verify rows), then one of `shop` per round; "
        "verify and restore use the last round's (`$ID`)",
    ]
    for kind in KINDS:
        man = measures[f"{LETTER[kind]}-backup"].best.extra["manifest"]
        facts.append(
            f"{KIND_LABEL[kind]}: manifest `duration_s` {man['duration_s']} (dbseal's own clock, "
            f"without start-up), stored {int(man['sizes']['stored']) / MB:.1f} MB"
        )
    load = [
        f"{load_bytes / MB:.1f} MB of generated SQL (`gen_sql.py --size {args.size}` rows) "
        f"loaded in {load_s:.1f} s through `mariadb`",
        "rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()),
        f"the dump dbseal takes (`mariadb-dump` output, manifest `sizes.raw`): "
        f"{dump_bytes / MB:.1f} MB",
    ]
    if dump_bytes < size:
        load.append(f"**note:** the dump is smaller than the requested {args.size}")
    repeated = sum(m.discarded for m in measures.values())
    return Report(
        measures,
        load,
        facts,
        list(checks.values()),
        commands,
        sb.version,
        dump_bytes,
        repeated,
    )


def _command(argv: Sequence[str], names: dict[str, str]) -> str:
    text = Stage(argv).shell(None)
    for path, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"'{path}'", name).replace(path, name)
    return text


# --------------------------------------------------------------------------- rendering


TABLE_HEAD = (
    "| what | wall s | ratio vs a | dbseal CPU s | server CPU s | mariadbd CPU s "
    "| cores busy | dbseal peak RSS MB | server peak RSS MB | target | met? |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
)
HELPER_OF = {"local": None, "s3": "moto", "tls": "receiver"}


def _fmt_row(m: Measure, base: Measure | None) -> str:
    b = m.best
    helper = HELPER_OF[m.kind]
    ratio = b.wall / base.best.wall if base is not None else None
    server_cpu = b.helper_cpu.get(helper, 0.0) if helper else 0.0
    total = b.cpu + server_cpu + b.mariadbd_cpu
    server_rss = (
        f"{max(r.helper_peak_kib.get(helper, 0) for r in m.runs) * 1024 / MB:.0f}"
        if helper
        else "—"
    )
    target, met = "—", "—"
    if m.op == "backup":
        rss_ok = m.rss_mb < RSS_TARGET_MB
        if m.kind == "local":
            target = f"RSS < {RSS_TARGET_MB:.0f} MB"
            met = "yes" if rss_ok else "**no** (RSS)"
        else:
            target = f"<= {WALL_TARGET}x a; RSS < {RSS_TARGET_MB:.0f} MB"
            wall_ok = ratio is not None and ratio <= WALL_TARGET
            missed = [n for n, ok in (("wall", wall_ok), ("RSS", rss_ok)) if not ok]
            met = "yes" if not missed else f"**no** ({', '.join(missed)})"
    return (
        f"| {m.what} | {b.wall:.2f} | {'—' if ratio is None else f'{ratio:.2f}'} | "
        f"{b.cpu:.2f} | {f'{server_cpu:.2f}' if helper else '—'} | {b.mariadbd_cpu:.2f} | "
        f"{total / b.wall:.2f} | {m.rss_mb:.0f} | {server_rss} | {target} | {met} |"
    )


def _split_rows(report: Report) -> list[str]:
    rows = []
    for kind in KINDS:
        m = report.measures[f"{LETTER[kind]}-restore"]
        if not m.runs:
            continue
        b = m.best
        auth, apply = b.extra.get("authenticate_s"), b.extra.get("apply_s")
        if auth is not None and apply is not None:
            rows.append(f"| {m.what} | {b.wall:.2f} | {auth:.2f} | {apply:.2f} |")
    return rows


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
            "import sys, zstandard, cryptography, boto3, botocore, moto, werkzeug, ssl; "
            "from importlib.metadata import version; "
            "print(sys.version.split()[0], zstandard.__version__, cryptography.__version__, "
            "boto3.__version__, botocore.__version__, moto.__version__, version('werkzeug'), "
            "ssl.OPENSSL_VERSION.split()[1])",
        ]
    ).split()
    have = len(libs) == 8
    return [
        f"- CPU: {cpu}, nproc {_out(['nproc'])}{mem}; Linux {platform.release()}",
        f"- dbseal: `{_out([dbseal, '--version'])}` (git {git}"
        + (", exported with `git archive`" if git_rev else "")
        + (", working tree with uncommitted changes under src/" if dirty else "")
        + ")"
        + (
            f"; Python {libs[0]}, python-zstandard {libs[1]}, cryptography {libs[2]}, "
            f"boto3 {libs[3]}, botocore {libs[4]}, OpenSSL {libs[7]}"
            if have
            else ""
        ),
        (f"- moto {libs[5]} (`moto_server`, Werkzeug {libs[6]})" if have else "- moto: ?")
        + f"; MariaDB {sandbox_version} (sandbox); `{_out(['mariadb-dump', '--version'])}`",
    ]


def render(report: Report, args: argparse.Namespace, machine: list[str]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rerun = (
        f".venv/bin/python bench/remote_bench.py --size {args.size} --runs {args.runs}"
        + (f" --verify-runs {args.verify_runs}" if args.verify_runs != args.runs else "")
        + (f" --restore-runs {args.restore_runs}" if args.restore_runs != args.runs else "")
        + (f" --buffer-pool {args.buffer_pool}" if args.buffer_pool != "3G" else "")
        + (f" --git-rev {args.git_rev}" if args.git_rev else "")
        + (f" --workdir {args.workdir}" if args.workdir_given else "")
        + " --out docs/benchmarks.md"
    )
    workdir = args.workdir or tempfile.gettempdir()
    fs = fs_type(Path(workdir))
    ms = report.measures
    lines = []
    for op in ("backup", "verify", "verify-tiny", "restore"):
        base = ms[f"a-{op}"]
        for kind in KINDS:
            m = ms[f"{LETTER[kind]}-{op}"]
            if m.runs:
                lines.append(_fmt_row(m, None if kind == "local" else base))
    table = "\n".join(lines)
    split = _split_rows(report)
    split_text = (
        "\n\n**Restores, dbseal's own split** (best round; the authenticate pass reads and "
        "decrypts the whole backup once before anything reaches the server, the apply pass "
        "reads it again and feeds `mariadb`: from S3 and the receiver the data object is "
        "downloaded twice):\n\n"
        "| what | wall s | authenticate pass s | apply pass s |\n|---|---:|---:|---:|\n"
        + "\n".join(split)
        if split
        else ""
    )
    cmds = "\n".join(f"# {what}\n{cmd}" for what, cmd in report.commands)
    bullets = "\n".join(f"- {x}" for x in report.load)
    facts = "\n".join(f"- {x}" for x in report.facts)
    checks = "\n".join(f"- {x}" for x in report.checks) or "- (no restore was run)"
    runs = (
        f"{args.runs} round(s) of backups, {args.verify_runs} of verifies, "
        f"{args.restore_runs} of restores"
    )
    return f"""{START}
## Remote repositories: S3 and the receiver (issue 5)

Generated by `bench/remote_bench.py` on {now}. Rerun from the repository root:

```sh
{rerun}
```

**Data:** as in the backup benchmark: a throwaway MariaDB server (`MariaDBSandbox`, TLS on,
`--innodb-buffer-pool-size={args.buffer_pool}`) holding database `{DB}` (tables `customers`,
`orders`, `order_items`, the rows of `bench/gen_sql.py`), everything cached in the buffer pool.
The server's files, the local repository, the receiver's repository and moto's spool
directory (`TMPDIR`) are all in one temporary directory under `{workdir}` ({fs}).

{bullets}

**The three repositories**, all made by `dbseal init ... -r age1...` (defaults: `zstd:3`):

- **a. local**: a directory; dbseal writes, fsyncs and links the data object itself.
- **b. S3**: `s3://{BUCKET}/{PREFIX}?endpoint=http://127.0.0.1:PORT&path_style=1&region=us-east-1`
  in moto's S3 server (`moto_server`, one Python process, in-memory buckets that spool
  objects to `TMPDIR`), fake credentials (`AWS_ACCESS_KEY_ID=testing`, no `~/.aws`). dbseal
  streams the data object as a multipart upload (16 MiB parts, one uploading while the
  next fills).
- **c. receiver**: `dbseal serve` on 127.0.0.1 (mutual TLS 1.3, a CA and certificates from
  `dbseal tls init` / `dbseal tls issue`) serving a local directory; the client is
  `--repo dbseal+tls://127.0.0.1:PORT --tls-ca ... --tls-cert ... --tls-key ...`. The
  receiver writes, fsyncs and links.

**Method:** {runs}, each round running a, b, c once (interleaved); "wall s" is the best round
and the other figures come from that same round (peak RSS: the largest of all rounds).
"ratio vs a" divides by the local row of the same operation. "dbseal CPU s" is GNU time's user
+ system of the `dbseal` command, children included (its `mariadb-dump` for a backup, its
`mariadb` for a restore); "server CPU s" is what the loopback server (moto_server for b, the
receiver for c) used during the run, "mariadbd CPU s" the database server's, both from
`/proc/PID/stat`. "cores busy" is the sum of the three over the wall, out of {os.cpu_count()}:
on this machine the loopback server competes with dbseal and mariadbd for the same cores, so
rows b and c include the server's work, which a real deployment runs on another host.
"dbseal peak RSS" is GNU time's `%M` (the largest of dbseal and its child); "server peak RSS"
is the server's `VmHWM` during the run (moto keeps objects over 5 MiB in unlinked temporary
files under `TMPDIR`, but completing a multipart upload assembles the whole object in its memory,
more than once). Before each run mariadbd flushes and goes idle and
the benchmark waits for the rest of the machine to use under {QUIET} cores; a run during which
it used more than {DISTURBED} cores is repeated ({report.repeated} were).

| what | wall s | ratio vs a | dbseal CPU s | server CPU s | mariadbd CPU s | cores busy | dbseal peak RSS MB | server peak RSS MB | target | met? |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|
{table}{split_text}

**The backups** (manifests of the best rounds):

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
    need = 6 * size + (3 << 30)  # the database, redo log, three repositories, moto's spool
    return str(shm) if st.f_bavail * st.f_frsize > need else None


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the finally blocks stop every server."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Benchmark dbseal backup, verify and restore with local, S3 (moto) and "
        "receiver (dbseal serve) repositories."
    )
    ap.add_argument("--size", default="500M", help="size of the dump dbseal takes (default: 500M)")
    ap.add_argument("--runs", type=int, default=3, help="backup rounds, best kept (3)")
    ap.add_argument(
        "--verify-runs", type=int, default=None, help="verify rounds (default: --runs; 0: none)"
    )
    ap.add_argument(
        "--restore-runs", type=int, default=None, help="restore rounds (default: --runs; 0: none)"
    )
    ap.add_argument("--buffer-pool", default="3G", help="InnoDB buffer pool (default: 3G)")
    ap.add_argument("--dbseal", default=None, help="dbseal executable (default: next to Python)")
    ap.add_argument(
        "--git-rev", metavar="REV", help="benchmark dbseal as of this git revision (git archive)"
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
        f"fall under {QUIET} busy cores (default: 600)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--out", type=Path, help="update this Markdown file (else print)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.verify_runs is None:
        args.verify_runs = args.runs
    if args.restore_runs is None:
        args.restore_runs = args.runs
    if args.dbseal is None and not args.git_rev:
        local = Path(sys.executable).parent / "dbseal"
        args.dbseal = str(local) if local.exists() else shutil.which("dbseal")
    missing = [
        t
        for t in (args.dbseal or "dbseal", "mariadb-dump", "mariadb", TIME, "bash")
        if not shutil.which(t)
    ]
    if missing:
        ap.error(f"missing tools: {', '.join(missing)}")
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        ap.error("boto3 and moto[server] are needed: .venv/bin/pip install -e '.[dev]'")
    args.workdir_given = args.workdir is not None
    if args.workdir is None:
        args.workdir = default_workdir(parse_size(args.size))

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    work = Path(tempfile.mkdtemp(prefix="dbseal-rb-", dir=args.workdir))
    try:
        if args.git_rev:
            args.dbseal = export_rev(args.git_rev, work / "snapshot")
        args.dbseal = str(Path(shutil.which(args.dbseal) or args.dbseal).absolute())
        before = busy()
        report = remote_bench(args, work)
        machine = machine_info(args.dbseal, args.git_rev, report.server_version)
        machine.append(
            f"- other activity on the machine: before the run {before}; after it (the run's own "
            f"processes count too) {busy()}"
        )
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    section = render(report, args, machine)
    if args.out:
        update_doc(args.out, section)
        log(f"updated {args.out}")
    else:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
