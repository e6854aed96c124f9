"""What the restore spool costs: `dbseal restore` from S3 (moto on loopback) with and without it.

Starts a source and a target MariaDB sandbox and moto's S3 server, fills ``bench_spool.big``
with ROWS rows (``pad``: SHA-512 hex, compressible about 3.7x, or ``--md5`` for the tests'
``big_db`` shape), backs it up to a bucket, then restores it RUNS times each way, dropping
the target database in between. Prints the sizes and the wall, authenticate and apply
times. The numbers in docs/design.md ("All-or-nothing restores") come from::

    .venv/bin/python bench/restore_spool.py --md5 30000
    .venv/bin/python bench/restore_spool.py 100000
    .venv/bin/python bench/restore_spool.py 300000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

DB = "bench_spool"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dbseal(home: Path, *args: object) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    done = subprocess.run(
        [sys.executable, "-m", "dbseal.cli.main", *(str(a) for a in args)],
        cwd=home, env=env, capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"dbseal {args[0]}: exit {done.returncode}: {done.stderr.decode()}")
    return done.stdout.decode()


def _sql(server: MariaDBSandbox, *statements: str) -> None:
    with server.connect() as conn:
        conn.autocommit(True)
        with conn.cursor() as cur:
            for st in statements:
                cur.execute(st)


def _login(home: Path, server: MariaDBSandbox) -> list[object]:
    pw = home / f"pw-{server.port}"
    pw.write_text(server.root_password)
    pw.chmod(0o600)
    return ["--password-file", pw, "--ssl-ca", server.ca_cert]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=int)
    ap.add_argument(
        "--md5", action="store_true", help="REPEAT(MD5(seq), 25) rows (very compressible)"
    )
    ap.add_argument("--runs", type=int, default=2)
    opts = ap.parse_args()
    pad = "REPEAT(MD5(seq), 25)" if opts.md5 else "CONCAT(SHA2(seq, 512), SHA2(seq + 7, 512))"
    home = Path(tempfile.mkdtemp(prefix="dbseal-bench-spool-"))
    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with MariaDBSandbox(tls=True) as source, MariaDBSandbox(tls=True) as target:
            _sql(
                source,
                f"CREATE DATABASE {DB}",
                f"CREATE TABLE {DB}.big (id INT PRIMARY KEY, pad VARCHAR(1100))",
                f"INSERT INTO {DB}.big SELECT seq, {pad} FROM {DB}.seq_1_to_{opts.rows}",
            )
            endpoint = f"http://127.0.0.1:{port}"
            repo = f"s3://bench/repo?endpoint={endpoint}&region=us-east-1&path_style=1"
            recipient = _dbseal(home, "keygen", "-o", home / "k").strip()
            _dbseal(home, "init", f"{repo}&create_bucket=1", "-r", recipient)
            out = _dbseal(
                home, "backup", "--repo", repo, "--json",
                "--source", f"mysql://root@127.0.0.1:{source.port}/{DB}", *_login(home, source),
            )  # fmt: skip
            bid = json.loads(out)["id"]
            shown = json.loads(
                _dbseal(home, "show", "--repo", repo, bid, "-i", home / "k", "--json")
            )
            sizes = shown.get("manifest", shown).get("sizes")
            print(json.dumps({"rows": opts.rows, "sizes": sizes}))
            target_args = ["--target", f"mysql://root@127.0.0.1:{target.port}"]
            login = [
                a if a != "--password-file" else "--target-password-file"
                for a in _login(home, target)
            ]
            login = [a if a != "--ssl-ca" else "--target-ssl-ca" for a in login]
            for run in range(opts.runs):
                for mode in (["--no-spool"], ["--spool-dir", home]):
                    _sql(target, f"DROP DATABASE IF EXISTS {DB}")
                    t0 = time.monotonic()
                    res = json.loads(
                        _dbseal(home, "restore", "--repo", repo, bid, "--json", "-i", home / "k",
                                *target_args, *login, *mode)
                    )  # fmt: skip
                    wall = round(time.monotonic() - t0, 2)
                    print(json.dumps({"run": run, "mode": mode[0], "wall_s": wall,
                                      "authenticate_s": res["authenticate_s"],
                                      "apply_s": res["apply_s"]}))  # fmt: skip
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
