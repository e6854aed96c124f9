"""`make demo`: dbseal's main job, end to end, against a sandbox MariaDB it starts itself.

Runs the real ``dbseal`` command for every step and shows each command line,
so the output reads like a session at a terminal. Everything is written under
``demo-out/`` and the sandbox server is always stopped and removed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dbseal.demo_data import write_dump
from dbseal.demo_pitr import pitr_demo
from dbseal.demo_postgresql import pg_demo
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

OUT = Path("demo-out")
DBSEAL = [sys.executable, "-m", "dbseal.cli.main"]
DEMO_ENV: dict[str, str] = {}  # the keyring passphrase file, for the physical part

SCHEMA_EXTRAS = """
CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL,
  total DECIMAL(12,2) NOT NULL, placed DATETIME NOT NULL, receipt BLOB);
INSERT INTO orders (customer_id, total, placed, receipt)
  SELECT id, balance / 10, created, UNHEX(SHA2(name, 256)) FROM customers WHERE id % 3 = 0;
CREATE VIEW big_spenders AS SELECT c.id, c.name, SUM(o.total) AS spent
  FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name HAVING spent > 5000;
CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, order_id INT, at DATETIME);
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
  INSERT INTO audit (order_id, at) VALUES (NEW.id, NOW());
CREATE PROCEDURE customer_count(OUT n INT) SELECT COUNT(*) INTO n FROM customers;
"""


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def run(
    *args: str, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"$ dbseal {shown}", flush=True)
    proc = subprocess.run(
        [*DBSEAL, *args], text=True, capture_output=True, env={**os.environ, **(env or {})}
    )
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        print("\n".join("  " + line for line in out.splitlines()), flush=True)
    if proc.returncode not in ok:
        raise SystemExit(f"demo: `dbseal {shown}` exited {proc.returncode}")
    if proc.returncode:
        print(f"  (exit status {proc.returncode}, as expected)")
    return proc


def private_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def load_sample(server: MariaDBSandbox) -> None:
    dump = OUT / "sample.sql"
    with dump.open("wb") as fh:
        write_dump(fh, 8 << 20)
    conn = server.connect()
    conn.autocommit(True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE shop CHARACTER SET utf8mb4")
    conn.close()
    client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
    with dump.open("rb") as fh:
        subprocess.run(
            [
                client,
                "--no-defaults",
                f"--socket={server.socket_path}",
                "-uroot",
                f"--password={server.root_password}",
                "shop",
            ],
            stdin=fh,
            check=True,
        )  # the demo's own throwaway password; dbseal itself never puts one on a command line
    conn = server.connect("shop")
    conn.autocommit(True)
    with conn.cursor() as cur:
        for statement in SCHEMA_EXTRAS.strip().split(";\n"):
            cur.execute(statement)
        cur.execute("SELECT COUNT(*) FROM customers")
        row = cur.fetchone()
        n = row[0] if row else 0
        print(f"sample database `shop`: {n} customers, orders, a view, a trigger, a procedure")
    conn.close()
    dump.unlink()


def counts(server: MariaDBSandbox, db: str) -> dict[str, int]:
    conn = server.connect(db)
    with conn.cursor() as cur:
        out = {}
        for table in ("customers", "orders", "audit"):
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            row = cur.fetchone()
            out[table] = int(row[0]) if row else -1
    conn.close()
    return out


def flip_byte(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 1]))


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(mode=0o700)
    step("start a private sandbox MariaDB (loopback, random port, its own TLS certificates)")
    with MariaDBSandbox(binlog=True, extra_args=["--binlog-format=ROW"]) as server:
        print(f"MariaDB {server.version} on 127.0.0.1:{server.port}, CA {server.ca_cert}")
        load_sample(server)
        escrow = demo(server)
        from dbseal.demo_physical import physical_demo  # mariadb-backup, restore --datadir

        physical_demo(server, OUT, run, step, ["--keyring", str(OUT / "keyring")], DEMO_ENV)
        lifecycle_and_report(server)
    step("MariaDB sandbox stopped and removed; everything the demo wrote is in demo-out/")
    pg_demo(OUT, run, step, private_file)  # the same job with PostgreSQL (demo_postgresql.py)
    check(escrow)


def demo(server: MariaDBSandbox) -> str:
    """The demo's steps with the server; returns the escrow recipient."""
    repo, ring = str(OUT / "repo"), str(OUT / "keyring")
    dbpass = private_file(OUT / "db.pass", server.root_password)
    ringpass = private_file(OUT / "keyring.pass", os.urandom(18).hex())
    env = {"DBSEAL_KEYRING_PASSPHRASE_FILE": str(ringpass)}  # names a 0600 file; never the secret
    DEMO_ENV.update(env)
    source = f"mysql://root@127.0.0.1:{server.port}/shop"
    tls = ["--ssl-ca", str(server.ca_cert), "--ssl-mode", "verify-identity"]

    step("keys: a keyring for daily use, and an offline escrow key (age-compatible)")
    run("keys", "init", "--keyring", ring, "--key", "backup", env=env)
    escrow = run("keygen", "-o", str(OUT / "escrow.key")).stdout.strip()

    step("a repository that seals every backup for the keyring key AND the escrow key")
    run("init", repo, "--keyring", ring, "--key", "backup", "-r", escrow, env=env)
    run(
        "secret",
        "set",
        "--repo",
        repo,
        "dbpw",
        "--value-file",
        str(dbpass),
        "--keyring",
        ring,
        env=env,
    )

    step("back up over verified TLS: the password goes to mariadb-dump in a 0600 option file")
    t0 = time.monotonic()
    common = ["--source", source, "--password-secret", "dbpw"]
    run("backup", "--repo", repo, *common, *tls, "--keyring", ring, env=env)
    print(f"  ({time.monotonic() - t0:.1f} s)")
    run("list", "--repo", repo)
    run("show", "--repo", repo, "latest", "--keyring", ring, env=env)

    step("verify: restore into a throwaway server dbseal starts itself, compare every table")
    run("verify", "--repo", repo, "latest", "--level", "restore", "--keyring", ring, env=env)

    def restore_as(name: str, ok: tuple[int, ...] = (0,)) -> None:
        target = f"mysql://root@127.0.0.1:{server.port}"
        run("restore", "--repo", repo, "latest", "--target", target,
            "--target-password-file", str(dbpass), "--target-ssl-ca", str(server.ca_cert),
            "-i", str(OUT / "escrow.key"), "--rename-db", f"shop={name}", ok=ok)  # fmt: skip

    step("restore on a host with no keyring, using only the escrow key, into a new database name")
    restore_as("shop_restored")
    before, after = counts(server, "shop"), counts(server, "shop_restored")
    print(f"  row counts: shop {before} / shop_restored {after}")
    if before != after:
        raise SystemExit("demo: the restored database differs")

    pitr_demo(server, run, step, repo, ["--keyring", ring], env, dbpass, OUT / "escrow.key")

    step("tampering is caught before anything is applied: flip one byte of the stored backup")
    data = next((OUT / "repo" / "data").glob("*.dbseal"))
    flip_byte(data)
    run("verify", "--repo", repo, "latest", "--level", "integrity", ok=(30,))
    restore_as("shop_tampered", ok=(6,))
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'shop_tampered'")
        print(
            f"  database shop_tampered exists: {'yes' if cur.fetchall() else 'no (nothing was applied)'}"
        )
    conn.close()

    step("a new backup, restore-tested; the tampered backup is forgotten")
    run("backup", "--repo", repo, *common, *tls, "--keyring", ring, env=env)
    run("verify", "--repo", repo, "latest", "--level", "restore", "--keyring", ring, env=env)
    run("forget", "--repo", repo, data.name.removesuffix(".dbseal"))
    return escrow


def check(escrow: str) -> None:
    """The last step, as cron, Nagios (--nagios) or Prometheus (--prometheus FILE) run it."""
    ring = OUT / "keyring"
    env = {"DBSEAL_KEYRING_PASSPHRASE_FILE": str(OUT / "keyring.pass")}
    step("monitoring: `dbseal check` judges each source's backups (also --nagios, --prometheus)")
    config = private_file(
        OUT / "dbseal.toml",
        f'repository = "{(OUT / "repo").resolve()}"\n'
        f'keyring = "{ring.resolve()}"\n\n'
        '[check]\nmax_age_warning = "26h"\nmax_age_critical = "50h"\nrto = "15m"\n'
        f'require_escrow = true\nescrow_recipients = ["{escrow}"]\n',
    )
    run("check", "--config", str(config), env=env)


def lifecycle_and_report(server: MariaDBSandbox) -> None:
    """Rotate the key, back up again, rewrap the old backup, retire the old version; report."""
    repo, ring = str(OUT / "repo"), str(OUT / "keyring")
    env = {"DBSEAL_KEYRING_PASSPHRASE_FILE": str(OUT / "keyring.pass")}
    keyring = ["--keyring", ring]
    step("rotate the keyring key: new backups use backup:2; rewrap old ones; retire backup:1")
    run("keys", "rotate", "backup", *keyring, env=env)
    run("backup", "--repo", repo, "--source", f"mysql://root@127.0.0.1:{server.port}/shop",
        "--password-secret", "dbpw", "--ssl-ca", str(server.ca_cert),
        "--ssl-mode", "verify-identity", *keyring, env=env)  # fmt: skip
    run("rewrap", "--repo", repo, "--all", "--to", "keyring:backup",
        "--remove", "keyring:backup:1", *keyring, env=env)  # fmt: skip
    run("keys", "retire", "backup:1", "--repo", repo, *keyring, env=env)
    step(
        "the compliance report an auditor reads (HTML, and PDF with Chromium); the keyring adds key dates"
    )
    pdf = ["--pdf", str(OUT / "report.pdf")] if shutil.which("chromium") else []
    run("report", "--repo", repo, "--rto", "5m", *keyring, "-o", str(OUT / "report.html"), *pdf,
        env=env)  # fmt: skip
    if not pdf:
        print("  (no PDF: Chromium is not installed; `make bootstrap` as root installs it)")


if __name__ == "__main__":
    main()
