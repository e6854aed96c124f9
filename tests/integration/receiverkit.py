"""Shared helpers for the receiver tests: a test PKI, an in-process receiver, `dbseal serve`."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.clikit import DBSEAL, clean_env
from dbseal.crypto import pki as pkimod
from dbseal.server.receiver import Receiver, ReceiverConfig
from dbseal.storage import TlsClientFiles
from dbseal.storage.remote import RemoteBackend

CLIENTS = ("alice", "bob", "client-0", "client-1", "client-2", "client-3")


@dataclass(frozen=True)
class Pki:
    ca: Path  # the real CA: server certificate "localhost" (+127.0.0.1) and the CLIENTS
    rogue: Path  # another CA that also issued an "alice"

    def files(self, name: str, ca_dir: Path | None = None) -> TlsClientFiles:
        d = ca_dir or self.ca
        return TlsClientFiles(
            str(self.ca / "ca-cert.pem"), str(d / f"{name}-cert.pem"), str(d / f"{name}-key.pem")
        )

    def args(self, name: str = "alice") -> list[str]:
        f = self.files(name)
        return ["--tls-ca", str(f.ca), "--tls-cert", str(f.cert), "--tls-key", str(f.key)]

    def serve_args(self) -> list[str]:
        return [
            "--cert",
            str(self.ca / "localhost-cert.pem"),
            "--key",
            str(self.ca / "localhost-key.pem"),
            "--client-ca",
            str(self.ca / "ca-cert.pem"),
        ]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca, rogue = tmp_path_factory.mktemp("pki"), tmp_path_factory.mktemp("rogue")
    pkimod.init_ca(ca)
    pkimod.issue(ca, "localhost", "server", ips=["127.0.0.1"])
    for name in CLIENTS:
        pkimod.issue(ca, name, "client")
    now = dt.datetime.now(dt.UTC)
    pkimod.issue(
        ca,
        "expired",
        "client",
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    pkimod.init_ca(rogue, "rogue CA")
    pkimod.issue(rogue, "alice", "client")
    return Pki(ca, rogue)


class Events:
    """A reporter that keeps the receiver's events (thread-safe) and waits for them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def event(self, kind: str, **fields: Any) -> None:
        with self._lock:
            self.items.append((kind, fields))

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [f for k, f in self.items if k == kind]

    def wait_for(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.of(kind):
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {kind} event; got {self.items}")


@contextlib.contextmanager
def receiver(pki: Pki, repo: Path | str, **options: Any) -> Iterator[tuple[Receiver, Events]]:
    """An in-process receiver on 127.0.0.1 (free port) for the repository ``repo``."""
    events = Events()
    config = ReceiverConfig(
        "127.0.0.1",
        0,
        str(repo),
        str(pki.ca / "localhost-cert.pem"),
        str(pki.ca / "localhost-key.pem"),
        str(pki.ca / "ca-cert.pem"),
        **options,
    )
    with Receiver(config, events).start() as r:
        yield r, events


def remote(port: int, files: TlsClientFiles) -> RemoteBackend:
    return RemoteBackend.from_url(f"dbseal+tls://127.0.0.1:{port}", files)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Serve:
    """`dbseal serve` as a separate process on 127.0.0.1 and a port it picks itself."""

    def __init__(self, pki: Pki, repo: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                *DBSEAL,
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--repo",
                str(repo),
                *pki.serve_args(),
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = wait_until(
            lambda: next((x for x in self.lines if " listening " in x), None), "serve"
        )
        self.port = int(line.split()[1].rsplit(":", 1)[1])

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def url(self) -> str:
        return f"dbseal+tls://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(10)
        self._reader.join(5)
        return rc

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()
