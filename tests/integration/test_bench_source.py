"""`dbseal bench mysql://...`: a sample of a real dump, the dump stopped once it is taken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dbseal.engines.mariadb.sandbox import MariaDBSandbox


def test_bench_samples_a_live_dump(mariadb: MariaDBSandbox, big_db: str, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, mariadb.root_password.encode() + b"\n")
    os.close(fd)
    res = subprocess.run(
        [sys.executable, "-m", "dbseal.cli.main", "bench", f"mysql://root@localhost/{big_db}",
         "--socket", str(mariadb.socket_path), "--ssl-mode", "disabled", "--password-file",
         str(pw), "--sample", "1M", "--codecs", "none,zstd:1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["sample_bytes"] == 1 << 20  # the ~24 MB dump was cut at the sample size
    assert doc["input"].startswith("a dump of ")
    zstd = next(r for r in doc["results"] if r["codec"] == "zstd:1")
    assert zstd["sealed_bytes"] < 0.6 * doc["sample_bytes"]  # MD5 hex text compresses
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw"]
    with mariadb.connect() as conn, conn.cursor() as cur:  # no dump left running
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT /*!40001 SQL_NO_CACHE */%'"
        )
        row = cur.fetchone()
    assert row is not None and int(row[0]) == 0
