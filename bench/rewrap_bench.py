"""Rewrap benchmark (issue 6): rotating a key over N backups costs the same for 1 MB and 50 MB backups.

Builds a local repository of N backups of each size (through dbseal's own
backup path, with a generated SQL stream as the source), rotates the keyring
key, and times `dbseal rewrap --all --to keyring:backup --remove keyring:backup:1`
as a user runs it. Checks that no data object changed (SHA-256 and mtime).

    .venv/bin/python bench/rewrap_bench.py --count 200 --sizes 1M,50M --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dbseal.catalog.repository import Policy, RepoConfig, Repository
from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring, KeyringRecipient
from dbseal.crypto.passphrase import KdfParams
from dbseal.crypto.secret import Secret
from dbseal.ops.backup import run_backup
from dbseal.storage import LocalBackend

DBSEAL = [sys.executable, "-m", "dbseal.cli.main"]
START, END = "<!-- rewrap-bench:start -->", "<!-- rewrap-bench:end -->"


class _Result:
    def __init__(self) -> None:
        self.status, self.reasons, self.stderr, self.exit_code = "ok", list[str](), b"", 0
        self.databases = ["bench"]


class _Run:
    """A dump stream of ``size`` bytes of SQL-like text ending with the completion marker."""

    def __init__(self, size: int) -> None:
        line = (
            b"INSERT INTO `t` VALUES "
            + b",".join(b"(%d,'row %d')" % (i, i) for i in range(3000))
            + b";\n"
        )
        self._left, self._line = size, line
        self._tail = b"-- Dump completed on 2026-11-23 12:00:00\n"

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            out, self._tail = self._tail, b""
            return out
        chunk = (self._line * (1 + (1 << 20) // len(self._line)))[: min(1 << 20, self._left)]
        self._left -= len(chunk)
        return chunk

    def finish(self) -> _Result:
        return _Result()

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Source:
    def __init__(self, size: int) -> None:
        self.size = size

    def describe(self) -> dict[str, Any]:
        return {"kind": "mysqldump", "host": "bench", "databases": ["bench"]}

    def start(self) -> _Run:
        return _Run(self.size)


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def build(root: Path, count: int, size: int) -> tuple[Path, Path, Path]:
    ring_dir, repo_dir = root / "ring", root / "repo"
    pass_file = root / "ring.pass"
    pass_file.write_text("bench keyring passphrase")
    pass_file.chmod(0o600)
    secret = Secret(b"bench keyring passphrase")
    ring = Keyring.init(str(ring_dir), secret, "backup", KdfParams())
    config = RepoConfig(
        os.urandom(16).hex(),
        datetime.datetime.now(datetime.UTC).isoformat(),
        "none",
        [],
        {"id": ring.keyring_id.hex(), "key": "backup"},
        False,
        Policy(),
    )
    repo = Repository.create(LocalBackend(str(repo_dir)), config)
    recipients = [KeyringRecipient(ring, "backup")]
    for _ in range(count):
        run_backup(repo, _Source(size), recipients, parse_codec("none"))  # type: ignore[arg-type]
    return ring_dir, repo_dir, pass_file


def fingerprint(repo_dir: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for f in sorted((repo_dir / "data").glob("*.dbseal")):
        with f.open("rb") as fh:
            head = hashlib.sha256(
                fh.read(1 << 20)
            ).hexdigest()  # full hashes of 10 GB would dominate
        out[f.name] = (head, f.stat().st_mtime_ns)
    return out


def measure(count: int, size: int, workdir: Path) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="rewrap-bench-", dir=workdir))
    try:
        t0 = time.monotonic()
        ring_dir, repo_dir, pass_file = build(root, count, size)
        build_s = time.monotonic() - t0
        opts = ["--keyring", str(ring_dir), "--keyring-passphrase-file", str(pass_file)]
        subprocess.run(
            [*DBSEAL, "keys", "rotate", "backup", *opts], check=True, capture_output=True
        )
        before = fingerprint(repo_dir)
        t1 = time.monotonic()
        proc = subprocess.run(
            [
                *DBSEAL,
                "rewrap",
                "--repo",
                str(repo_dir),
                "--all",
                "--to",
                "keyring:backup",
                "--remove",
                "keyring:backup:1",
                "-q",
                *opts,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        rewrap_s = time.monotonic() - t1
        unchanged = fingerprint(repo_dir) == before
        stored = sum(f.stat().st_size for f in (repo_dir / "data").glob("*.dbseal"))
        return {
            "count": count,
            "size": size,
            "build_s": build_s,
            "rewrap_s": rewrap_s,
            "summary": proc.stdout.strip().splitlines()[-1],
            "data_unchanged": unchanged,
            "stored": stored,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(rows: list[dict[str, Any]], cmd: str) -> str:
    lines = [
        START,
        "## Rewrap (issue 6)",
        "",
        f"Generated by `bench/rewrap_bench.py` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC "
        f"(local repository on {os.uname().nodename}'s disk, {os.cpu_count()} cores). Rerun:",
        "",
        f"```sh\n{cmd}\n```",
        "",
        "Each row: a repository of N backups (sealed `--compress none`, so the data objects really are "
        "that large), a `keys rotate`, then one timed `dbseal rewrap --all --to keyring:backup --remove "
        "keyring:backup:1` run as a user runs it (process start-up and keyring unlock included). "
        "Data objects are fingerprinted before and after (SHA-256 of the first MiB and mtime).",
        "",
        "| backups | size each | repository | rewrap wall s | per backup ms | data objects unchanged | target |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['count']} | {r['size'] / 2**20:.0f} MiB | {r['stored'] / 2**30:.2f} GiB | {r['rewrap_s']:.2f} | "
            f"{1000 * r['rewrap_s'] / r['count']:.1f} | {'yes' if r['data_unchanged'] else '**NO**'} | "
            f"< 10 s: {'met' if r['rewrap_s'] < 10 else '**missed**'} |"
        )
    if len(rows) >= 2:
        ratio = rows[-1]["rewrap_s"] / rows[0]["rewrap_s"]
        lines += [
            "",
            f"Largest / smallest backup size: rewrap time ratio {ratio:.2f} "
            f"(independent of backup size when close to 1). S3 on loopback: see the S3 section once "
            "remote repositories land.",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--sizes", default="1M,50M")
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--out", help="update this Markdown file between the rewrap-bench markers")
    args = ap.parse_args()
    rows = [measure(args.count, _size(s), Path(args.workdir)) for s in args.sizes.split(",")]
    cmd = f".venv/bin/python bench/rewrap_bench.py --count {args.count} --sizes {args.sizes}" + (
        f" --out {args.out}" if args.out else ""
    )
    text = report(rows, cmd)
    print(text)
    if args.out:
        doc = Path(args.out).read_text() if Path(args.out).exists() else "# Benchmarks\n"
        if START in doc and END in doc:
            doc = doc[: doc.index(START)] + text + doc[doc.index(END) + len(END) + 1 :]
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        Path(args.out).write_text(doc)


if __name__ == "__main__":
    main()
