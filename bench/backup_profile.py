#!/usr/bin/env python3
"""Where dbseal's own CPU goes during a logical backup: py-spy samples, grouped (issue 16).

Loads gen_sql.py rows into a sandbox, then runs ``dbseal backup`` under ``py-spy record
--native`` (all threads, idle ones excluded) and groups the samples by the innermost
frame that names a known cost: the table digest (SHA-256 over the dump), SQL-stream
parsing, zstd, AES-GCM/age encryption, pipe reads and writes, everything else. It also
measures the peer on the same dump stream: ``zstd -1 -T2 | age -r KEY`` (CPU seconds of
both), and dbseal's own CPU (its process only, not mariadb-dump's: user + system from
``/proc/PID/stat``, polled while a second, unprofiled backup runs).

Usage (py-spy: ``.venv/bin/pip install -e ".[bench]"``)::

    .venv/bin/python bench/backup_profile.py [--size 200M] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from backup_bench import DB, Server, _block, _private, load_data  # bench/ on sys.path
from gen_sql import parse_size
from seal_bench import busy

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

# first matching rule wins, looked for from the innermost frame outwards
CLK_TCK = os.sysconf("SC_CLK_TCK")
START, END = "<!-- backup-profile:start -->", "<!-- backup-profile:end -->"
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx))
    for name, rx in (
        ("table digest (SHA-256)", r"sha256|SHA256|hashlib|tabledigest.*update|_hashlib"),
        ("zstd compression", r"ZSTD_|zstd|compress"),
        ("encryption (AES-GCM / ChaCha)", r"aes|AES|gcm|chacha|encrypt|seal_chunk|cryptography"),
        ("SQL-stream parsing (table digests)", r"tabledigest|insert_head|statement|splitter"),
        ("pipe reads/writes, copies", r"read|write|memcpy|memmove|join|bytes"),
    )
)


def categorize(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, rx in RULES:
            if rx.search(frame):
                return name
    return "other (Python interpreter, startup, events)"


def _cpu(fn: Callable[[], object]) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def component_cpu(data: bytes) -> dict[str, float]:
    """CPU seconds of each stage of a backup alone, over ``data`` in 1 MiB blocks."""
    import hashlib
    import io

    from dbseal.codecs import parse_codec
    from dbseal.crypto.x25519 import X25519Identity, X25519Recipient
    from dbseal.engines.mariadb.tabledigest import TableDigester
    from dbseal.ops.seal import seal_stream

    blocks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]

    def digest() -> None:
        d = TableDigester()
        for b in blocks:
            d.feed(b)
        d.digests()

    def sha() -> None:
        h = hashlib.sha256()
        for b in blocks:
            h.update(b)

    def zstd1() -> None:
        c = parse_codec("zstd:1", threads=0).compressor()
        for b in blocks:
            c.compress(b)
        c.flush()

    compressed = b"".join(
        [parse_codec("zstd:1", threads=0).compressor().compress(data)]
    )  # one frame body, about the size the encryption sees
    ident = X25519Identity.generate()

    def encrypt() -> None:
        seal_stream(
            io.BytesIO(compressed), io.BytesIO(), [X25519Recipient(ident.public)],
            parse_codec("none"),
        )  # fmt: skip

    def pipe_copy() -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            for b in blocks:
                os.write(w, b)
            os._exit(0)
        os.close(w)
        while os.read(r, 1 << 20):
            pass
        os.close(r)
        os.waitpid(pid, 0)

    return {
        "table digests (SQL-stream parsing + per-table hashing, TableDigester)": _cpu(digest),
        "SHA-256 of the plaintext stream (hashlib)": _cpu(sha),
        "zstd -1 compression (one thread)": _cpu(zstd1),
        "encryption + framing of the compressed stream (seal_stream, codec none)": _cpu(encrypt),
        "reading the dump from a pipe (os.read, 1 MiB)": _cpu(pipe_copy),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="200M")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--out", type=Path, help="update this Markdown file (else print)")
    args = ap.parse_args(argv)
    before = busy()
    dbseal = str(Path(sys.executable).parent / "dbseal")
    pyspy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    work = Path(tempfile.mkdtemp(prefix="backup-profile-"))
    sb = MariaDBSandbox(tls=False, parent_dir=work, extra_args=["--innodb-buffer-pool-size=1G"])
    sb.start()
    try:
        server = Server(sb)
        cnf = _private(
            work / "c.cnf",
            f'[client]\nuser=root\npassword="{sb.root_password}"\nsocket="{sb.socket_path}"\n',
        )
        pw = _private(work / "pw", sb.root_password + "\n")
        load_data(server, cnf, parse_size(args.size))
        ident = work / "key.txt"
        out = subprocess.run([dbseal, "keygen", "-o", str(ident)], capture_output=True, text=True)
        key = re.search(r"age1[0-9a-z]+", out.stdout)
        assert key
        repo = work / "repo"
        subprocess.run(
            [dbseal, "init", str(repo), "-r", key.group()], check=True, capture_output=True
        )
        backup = [dbseal, "backup", "--repo", str(repo), "--source",
                  f"mysql://root@localhost/{DB}", "--socket", str(sb.socket_path),
                  "--password-file", str(pw), "--ssl-mode", "disabled"]  # fmt: skip
        # dbseal's own CPU: run it directly (its children: mariadb-dump, counted apart)
        t0 = time.perf_counter()
        proc = subprocess.Popen(backup, stdout=subprocess.DEVNULL)
        own = 0.0  # dbseal's process alone (utime + stime), polled until it exits
        while proc.poll() is None:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                own = (int(fields[11]) + int(fields[12])) / CLK_TCK
            except (OSError, IndexError):
                pass
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        print(f"dbseal backup: {wall:.1f} s wall, own CPU {own:.2f} s", file=sys.stderr)
        raw = work / "prof.txt"
        subprocess.run(
            [pyspy, "record", "--native", "-r", str(args.rate), "-f", "raw", "-o", str(raw),
             "--", *backup],
            check=True,
            capture_output=True,
        )  # fmt: skip
        counts: collections.Counter[str] = collections.Counter()
        for line in raw.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if stack and n.isdigit():
                counts[categorize(stack)] += int(n)
        # the peer on the same dump stream
        dump = work / "dump.sql"
        with dump.open("wb") as f:
            subprocess.run(
                ["mariadb-dump", f"--defaults-file={cnf}", "--single-transaction", DB],
                stdout=f,
                check=True,
            )
        data = dump.read_bytes()
        len_mb = len(data) / 1e6
        parts = component_cpu(data)
        del data
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(
            f"zstd -1 -T2 -c {dump} | age -r {key.group()} > /dev/null", shell=True, check=True
        )
        pwall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        peer = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    finally:
        sb.stop()
        shutil.rmtree(work, ignore_errors=True)
    total = sum(counts.values()) or 1
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        START,
        "## Backup: dbseal's own CPU, part by part (issue 16)",
        "",
        f"Run on {now} by `bench/backup_profile.py --size {args.size}`; {os.cpu_count()} "
        f"cores; machine activity before the run: {before}. dbseal's own CPU is its process "
        "alone (user + system from /proc, mariadb-dump not counted); the parts are each "
        "stage run alone in one process over the same dump, in 1 MiB blocks.",
        "",
        f"| each part alone, on the {len_mb:.0f} MB dump | CPU s |",
        "|---|---:|",
        *(f"| {name} | {cpu:.2f} |" for name, cpu in parts.items()),
        f"| sum of the parts | {sum(parts.values()):.2f} |",
        f"| **dbseal backup, its own process** (wall {wall:.1f} s) | **{own:.2f}** |",
        f"| peer: `zstd -1 -T2 \\| age` on the dump file (wall {pwall:.1f} s) | {peer:.2f} |",
        f"| ratio dbseal / peer (target <= 1.2x) | {own / peer if peer else 0:.2f}x |",
        "",
        "| py-spy samples of the backup (wall-clock, busy threads; informative) | share |",
        "|---|---:|",
        *(f"| {name} | {100 * n / total:.0f}% |" for name, n in counts.most_common()),
        END,
    ]
    section = "\n".join(out)
    if args.out:
        text = args.out.read_text()
        span = _block(text, START, END)
        text = (
            text[: span[0]] + section + text[span[1] :]
            if span
            else text.rstrip("\n") + "\n\n" + section + "\n"
        )
        args.out.write_text(text)
    else:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
