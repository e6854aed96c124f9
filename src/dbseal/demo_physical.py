"""`make demo`, physical part: a hot full + incremental backup of the sandbox with
mariadb-backup, restored into a fresh datadir that a new mariadbd then serves.

Called by :mod:`dbseal.demo` with its own step/run helpers (so the output reads the same).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbseal.engines.mariadb.datadir_server import DatadirServer
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

Run = Callable[..., subprocess.CompletedProcess[str]]


def _counts(server: MariaDBSandbox) -> dict[str, int]:
    with server.connect("shop") as conn, conn.cursor() as cur:
        out = {}
        for table in ("customers", "orders", "audit"):
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            row: Any = cur.fetchone()
            out[table] = int(row[0]) if row else -1
        return out


def physical_demo(
    server: MariaDBSandbox,
    out: Path,
    run: Run,
    step: Callable[[str], None],
    keyring: list[str],
    env: dict[str, str],
) -> None:
    repo = str(out / "repo-physical")
    dbpass = out / "db.pass"
    source = f"mysql://root@127.0.0.1:{server.port}"
    tls = ["--ssl-ca", str(server.ca_cert), "--ssl-mode", "verify-identity"]
    login = ["--source", source, "--password-file", str(dbpass), *tls]

    step("physical: a hot file-level copy with mariadb-backup, sealed like any backup")
    run("init", repo, *keyring, "--key", "backup", env=env)
    run("backup", "--repo", repo, *login, "--method", "physical", *keyring, env=env)
    with server.connect("shop") as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO orders (customer_id, total, placed) SELECT id, 1, NOW() FROM customers"
        )
        conn.commit()
    step(
        "physical incremental: only the pages changed since the full (its LSN from the repository)"
    )
    run(
        "backup", "--repo", repo, *login, "--method", "physical", "--incremental", *keyring, env=env
    )
    run("list", "--repo", repo)

    step("restore the chain (full + incremental) into a fresh datadir: extract, prepare, move")
    datadir = out / "restored-datadir"
    run("restore", "--repo", repo, "latest", "--datadir", str(datadir), *keyring, env=env)
    run("restore", "--repo", repo, "latest", "--datadir", str(server.datadir), *keyring,
        env=env, ok=(58,))  # fmt: skip
    restored = DatadirServer(datadir, parent_dir=out)
    restored.start()
    try:
        want, got = _counts(server), _counts(restored)
    finally:
        restored.stop()
    print(f"  a mariadbd on {datadir}: row counts {got} (source {want})")
    if want != got:
        raise SystemExit("demo: the restored datadir differs from the source")


__all__ = ["physical_demo"]
