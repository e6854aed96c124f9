"""Rewrap benchmark (issue 6): rotating a key over N backups costs the same for 1 MB and 50 MB backups.

Builds a local repository of N backups of each size (through dbseal's own
backup path, with a generated SQL stream as the source), rotates the keyring
key, and times `dbseal rewrap --all --to keyring:backup --remove keyring:backup:1`
as a user runs it. Checks that no data object changed (SHA-256 and mtime).

    .venv/bin/python bench/rewrap_bench.py --count 200 --sizes 1M,50M --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dbseal.catalog.repository import Policy, RepoConfig, Repository
from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring, KeyringRecipient
from dbseal.crypto.passphrase import KdfParams
from dbseal.crypto.secret import Secret
from dbseal.ops.backup import run_backup
from dbseal.storage import open_backend

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


def build(root: Path, count: int, size: int, location: str) -> tuple[Path, Path]:
    ring_dir = root / "ring"
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
    repo = Repository.create(open_backend(location), config)
    recipients = [KeyringRecipient(ring, "backup")]
    for _ in range(count):
        run_backup(repo, _Source(size), recipients, parse_codec("none"))  # type: ignore[arg-type]
    return ring_dir, pass_file


def fingerprint(location: str) -> dict[str, Any]:
    """Local: SHA-256 of each data object's first MiB and its mtime; S3: ETag and size."""
    if location.startswith("s3://"):
        from urllib.parse import parse_qs, urlsplit

        import boto3

        url = urlsplit(location)
        endpoint = parse_qs(url.query)["endpoint"][0]
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=url.netloc, Prefix="r/data/"
        )
        return {o["Key"]: (o["ETag"], o["Size"]) for p in pages for o in p.get("Contents", [])}
    out: dict[str, Any] = {}
    for f in sorted((Path(location) / "data").glob("*.dbseal")):
        with f.open("rb") as fh:
            head = hashlib.sha256(
                fh.read(1 << 20)
            ).hexdigest()  # full hashes of 10 GB would dominate
        out[f.name] = (head, f.stat().st_mtime_ns)
    return out


def measure(count: int, size: int, workdir: Path, s3: str | None = None) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="rewrap-bench-", dir=workdir))
    location = str(root / "repo")
    if s3:
        import boto3

        bucket = f"rewrap-{os.urandom(4).hex()}"
        boto3.client("s3", endpoint_url=s3, region_name="us-east-1").create_bucket(Bucket=bucket)
        location = f"s3://{bucket}/r?endpoint={s3}&region=us-east-1&path_style=1"
    try:
        t0 = time.monotonic()
        ring_dir, pass_file = build(root, count, size, location)
        build_s = time.monotonic() - t0
        opts = ["--keyring", str(ring_dir), "--keyring-passphrase-file", str(pass_file)]
        subprocess.run(
            [*DBSEAL, "keys", "rotate", "backup", *opts], check=True, capture_output=True
        )
        before = fingerprint(location)
        t1 = time.monotonic()
        argv = [*DBSEAL, "rewrap", "--repo", location, "--all", "--to", "keyring:backup",
                "--remove", "keyring:backup:1", "-q", *opts]  # fmt: skip
        proc = subprocess.run(argv, check=True, capture_output=True, text=True)
        rewrap_s = time.monotonic() - t1
        return {
            "where": "S3 (moto on loopback)" if s3 else "local disk",
            "count": count,
            "size": size,
            "build_s": build_s,
            "rewrap_s": rewrap_s,
            "summary": proc.stdout.strip().splitlines()[-1],
            "data_unchanged": fingerprint(location) == before,
            "stored": count * size,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(rows: list[dict[str, Any]], cmd: str) -> str:
    lines = [
        START,
        "## Rewrap (issue 6)",
        "",
        f"Generated by `bench/rewrap_bench.py` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC "
        f"({os.cpu_count()} cores). Rerun:",
        "",
        f"```sh\n{cmd}\n```",
        "",
        "Each row: a repository of N backups (sealed `--compress none`, so the data objects really are "
        "that large), a `keys rotate`, then one timed `dbseal rewrap --all --to keyring:backup --remove "
        "keyring:backup:1` run as a user runs it (process start-up and keyring unlock included). "
        "Data objects are fingerprinted before and after: local ones by the SHA-256 of their first MiB "
        "and mtime, S3 ones by ETag and size from a listing.",
        "",
        "| repository | backups | size each | total | rewrap wall s | per backup ms | data objects unchanged | target |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['where']} | {r['count']} | {r['size'] / 2**20:.0f} MiB | {r['stored'] / 2**30:.2f} GiB | "
            f"{r['rewrap_s']:.2f} | {1000 * r['rewrap_s'] / r['count']:.1f} | "
            f"{'yes' if r['data_unchanged'] else '**NO**'} | "
            f"< 10 s: {'met' if r['rewrap_s'] < 10 else '**missed**'} |"
        )
    for where in sorted({r["where"] for r in rows}):
        group = [r for r in rows if r["where"] == where]
        if len(group) >= 2:
            ratio = group[-1]["rewrap_s"] / group[0]["rewrap_s"]
            lines += ["", f"{where}: largest / smallest backup size, rewrap time ratio {ratio:.2f} "
                      "(independent of backup size when close to 1)."]  # fmt: skip
    lines.append(END)
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    """A moto S3 server on a free loopback port, with fake credentials for this process."""
    import socket

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
    )  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--sizes", default="1M,50M")
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument(
        "--s3", action="store_true", help="also an S3 repository on moto_server (loopback)"
    )
    ap.add_argument("--out", help="update this Markdown file between the rewrap-bench markers")
    args = ap.parse_args()
    sizes = [_size(s) for s in args.sizes.split(",")]
    rows = [measure(args.count, size, Path(args.workdir)) for size in sizes]
    if args.s3:
        with _moto() as endpoint:
            rows += [measure(args.count, size, Path(args.workdir), endpoint) for size in sizes]
    cmd = f".venv/bin/python bench/rewrap_bench.py --count {args.count} --sizes {args.sizes}"
    cmd += (" --s3" if args.s3 else "") + (f" --out {args.out}" if args.out else "")
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
