"""How many idle (pre-handshake) connections a `dbseal serve` tolerates before a client fails.

For each N: start `dbseal serve` from SRC (a tree's ``src/``), open N TCP connections that send
nothing, from 127.0.0.2 and up (at most 200 addresses), then let a mutual-TLS client on
127.0.0.1 put and get an object. Prints whether it worked, the receiver's RSS and thread count.
Loopback only; the numbers in docs/design.md ("Backup receiver") come from::

    .venv/bin/python bench/receiver_idle.py /work/main/src 20 31 40 100
    .venv/bin/python bench/receiver_idle.py src 20 40 100 1000
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def _one(src: str, ca: Path, n: int) -> str:
    from dbseal.storage import Handle, TlsClientFiles
    from dbseal.storage.remote import RemoteBackend

    repo = Path(tempfile.mkdtemp()) / "repo"
    tls = ["--cert", str(ca / "localhost-cert.pem"), "--key", str(ca / "localhost-key.pem")]
    serve = ["serve", "--listen", "127.0.0.1:0", "--repo", str(repo), *tls]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbseal.cli.main", *serve, "--client-ca", str(ca / "ca-cert.pem")],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
    )
    assert proc.stderr is not None
    port = int(proc.stderr.readline().split()[1].rsplit(b":", 1)[1])
    socks = []
    try:
        for i in range(n):
            s = socket.socket()
            s.bind((f"127.0.0.{2 + i % 200}", 0))
            s.connect(("127.0.0.1", port))
            socks.append(s)
        time.sleep(1)
        rss, threads = _rss_mib(proc.pid), len(list(Path(f"/proc/{proc.pid}/task").iterdir()))
        files = TlsClientFiles(*(str(ca / f) for f in ("ca-cert.pem", "a-cert.pem", "a-key.pem")))
        client = RemoteBackend.from_url(f"dbseal+tls://127.0.0.1:{port}", files)
        try:
            client.prepare()
            client.put(Handle("data", "x"), b"x")
            verdict = "works" if client.get(Handle("data", "x")) == b"x" else "WRONG DATA"
        except Exception as exc:  # what the measurement is about
            verdict = f"FAILS ({type(exc).__name__})"
        finally:
            client.close()
        return (
            f"{n:5d} idle connections from {min(n, 200)} addresses: client {verdict}; "
            f"receiver RSS {rss:.1f} MiB, {threads} threads"
        )
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="the src/ directory of the tree to measure")
    ap.add_argument("counts", nargs="+", type=int, metavar="N")
    args = ap.parse_args()
    sys.path.insert(0, args.src)
    try:
        from dbseal.crypto import pki
    except ImportError:  # trees before the PKI modules were merged
        from dbseal.server import pki  # type: ignore[no-redef]
    ca = Path(tempfile.mkdtemp())
    pki.init_ca(ca)
    pki.issue(ca, "localhost", "server", ips=["127.0.0.1"])
    pki.issue(ca, "a", "client")
    for n in args.counts:
        print(_one(args.src, ca, n), flush=True)


if __name__ == "__main__":
    main()
