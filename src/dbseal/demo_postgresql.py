"""`make demo`, second part: the same job against a sandbox PostgreSQL (skipped, saying so,
when PostgreSQL's server programs are not installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHOP = """
CREATE TYPE status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, tags text[], profile jsonb);
INSERT INTO customers SELECT i, 'customer ' || i, ARRAY['t' || (i % 7)],
  jsonb_build_object('since', 2000 + i % 25) FROM generate_series(1, 20000) i;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers,
  total numeric(12, 2), placed timestamptz, state status, receipt bytea);
INSERT INTO orders (customer_id, total, placed, state, receipt)
  SELECT 1 + i % 20000, (i % 997) / 7.0, now() - i * interval '1 minute',
         (ARRAY['new', 'paid', 'shipped'])[1 + i % 3]::status, decode(md5(i::text), 'hex')
  FROM generate_series(1, 60000) i;
CREATE VIEW big_spenders AS SELECT customer_id, sum(total) AS spent FROM orders
  GROUP BY customer_id HAVING sum(total) > 400;
"""


def pg_demo(out: Path, run: Any, step: Any, private_file: Any) -> None:
    from dbseal.engines.postgresql.sandbox import PostgresSandbox
    from dbseal.errors import DumpToolError, SandboxError

    step("PostgreSQL: a private sandbox (initdb + postgres on loopback, SCRAM, its own TLS)")
    try:
        server = PostgresSandbox(tls=True).start()
    except (SandboxError, DumpToolError) as exc:
        print(f"  skipped: {exc.message} (apt-get install postgresql)")
        return
    try:
        print(f"PostgreSQL {server.version} on 127.0.0.1:{server.port}")
        server.sql("CREATE DATABASE shop")
        server.sql(SHOP, "shop")
        print(
            "sample database `shop`: 20000 customers, 60000 orders, an enum, jsonb, arrays, a view"
        )
        _demo(out, server, run, step, private_file)
    finally:
        server.stop()


def _demo(out: Path, server: Any, run: Any, step: Any, private_file: Any) -> None:
    repo = str(out / "pg-repo")
    key = out / "pg.key"
    dbpass = private_file(out / "pg.pass", server.password_text)
    recipient = run("keygen", "-o", str(key)).stdout.strip()
    run("init", repo, "-r", recipient)
    tls = f"?sslmode=verify-full&sslrootcert={server.tls_files.ca_cert}"
    step("PostgreSQL: pg_dump --jobs 2 in its own snapshot over verify-full TLS, sealed")
    run("backup", "--repo", repo, "--source", server.url("shop", tcp=True) + tls,
        "--password-file", str(dbpass), "--pg-jobs", "2")  # fmt: skip
    step("PostgreSQL: verify by restoring into a throwaway server and comparing row counts")
    run("verify", "--repo", repo, "latest", "--level", "restore", "-i", str(key))
    step("PostgreSQL: restore under a new name with pg_restore --jobs 2")
    run("restore", "--repo", repo, "latest", "--target", server.url(tcp=True) + tls,
        "--target-password-file", str(dbpass), "-i", str(key), "--rename-db", "shop=shop_restored")  # fmt: skip
    q = "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders)"
    before, after = server.sql(q, "shop"), server.sql(q, "shop_restored")
    print(f"  row counts (customers, orders): shop {before[0]} / shop_restored {after[0]}")
    if before != after:
        raise SystemExit("demo: the restored PostgreSQL database differs")


__all__ = ["pg_demo"]
