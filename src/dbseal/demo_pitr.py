"""The point-in-time recovery part of `make demo` (docs/pitr.md): back to just before a bad write."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dbseal.engines.mariadb.sandbox import MariaDBSandbox


def _sql(server: MariaDBSandbox, *statements: str) -> Any:
    conn = server.connect("shop")
    try:
        with conn.cursor() as cur:
            for s in statements:
                cur.execute(s)
            rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def pitr_demo(
    server: MariaDBSandbox,
    run: Callable[..., Any],
    step: Callable[[str], None],
    repo: str,
    keyring: Sequence[str],
    env: dict[str, str],
    dbpass: Path,
    escrow: Path,
) -> None:
    """Archive the binlogs, make a good write and a bad one, recover to the moment between."""
    source = ["--source", f"mysql://root@127.0.0.1:{server.port}", "--password-file", str(dbpass)]
    tls = ["--ssl-ca", str(server.ca_cert), "--ssl-mode", "verify-identity"]
    step("point-in-time recovery: archive the binary logs (sealed like the backups)")
    run("binlog", "archive", "--repo", repo, *source, *tls, "--once", *keyring, env=env)
    _sql(server, "INSERT INTO orders (customer_id, total, placed) VALUES (1, 99.50, NOW())")
    good = _sql(server, "SELECT COUNT(*) FROM orders")[0][0]
    print(f"  a good write: a new order ({good} orders)")
    time.sleep(1.2)
    until = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    time.sleep(1.2)
    _sql(server, "DELETE FROM orders WHERE total > 100")
    left = _sql(server, "SELECT COUNT(*) FROM orders")[0][0]
    print(f"  a bad write: DELETE FROM orders WHERE total > 100 ({left} orders left)")
    run("binlog", "archive", "--repo", repo, *source, *tls, "--once", *keyring, env=env)
    run("binlog", "status", "--repo", repo)
    step(f"recover to {until} UTC, between the two writes, into a new database name")
    target = [
        "--target", f"mysql://root@127.0.0.1:{server.port}", "--target-password-file",
        str(dbpass), "--target-ssl-ca", str(server.ca_cert), "-i", str(escrow),
    ]  # fmt: skip
    run("restore", "--repo", repo, "auto", *target, "--until", until, "--dry-run")
    run(
        "restore",
        "--repo",
        repo,
        "auto",
        *target,
        "--until",
        until,
        "--rename-db",
        "shop=shop_pitr",
    )
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM shop_pitr.orders")
        row = cur.fetchone()
    conn.close()
    print(
        f"  orders in shop_pitr: {row[0] if row else '?'} (shop has {left}: the DELETE is not in the copy)"
    )
