"""`dbseal serve`: run a backup receiver; its connection log goes to standard error."""

from __future__ import annotations

import argparse
import datetime
import sys
import threading
from typing import Any, TextIO

from dbseal.errors import UsageError
from dbseal.monitoring.reporter import JsonLinesReporter, Reporter
from dbseal.monitoring.sizes import human_size


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT``; port 0 lets the system choose (the log shows it)."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {text!r} is not HOST:PORT", hint="e.g. --listen 0.0.0.0:7443")
    return host, int(port)


class ServeLog:
    """One line per event: time (UTC), peer address, what happened."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def event(self, kind: str, **f: Any) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        line = f"{now} {f.get('peer', '-')} {describe(kind, f)}"
        with self._lock:
            print(line, file=self._stream, flush=True)


def describe(kind: str, f: dict[str, Any]) -> str:
    who = f"client {f.get('client')!r}"
    if kind == "receiver.listening":
        mode = "append-only" if f.get("append_only") else "read-write"
        allow = f", allowing {', '.join(f['allow'])}" if f.get("allow") else ""
        return (
            f"listening (TLS 1.3, client certificates required, {mode}{allow}, "
            f"at most {f.get('max_connections')} connections, "
            f"{f.get('max_handshakes')} pending TLS handshakes "
            f"({f.get('max_handshakes_per_address')} per address, "
            f"{f.get('handshake_timeout'):g} s each), idle timeout {f.get('idle_timeout'):g} s) "
            f"for repository {f.get('repository')}"
        )
    if kind == "receiver.accepted":
        return f"accepted {who} ({f.get('tls')}, {f.get('cipher')})"
    if kind == "receiver.refused":
        client = f" {who}" if f.get("client") else ""
        return f"refused{client}: {f.get('reason')}"
    if kind == "receiver.refused_summary":
        reasons = ", ".join(f"{r} ({n})" for r, n in f.get("reasons", {}).items())
        return (
            f"refused {f.get('count')} connections from {f.get('peer')} in the last "
            f"{f.get('interval'):g} s ({f.get('reported')} shown above): {reasons}"
        )
    if kind == "receiver.stored":
        return f"{who} stored {f.get('object')} ({human_size(f.get('bytes'))})"
    if kind == "receiver.removed":
        return f"{who} removed {f.get('object')}"
    if kind == "receiver.denied":
        return f"{who} denied {f.get('op')} {f.get('object')}: {f.get('reason')}"
    if kind == "receiver.aborted":
        return f"{who} upload of {f.get('object')} abandoned, nothing stored: {f.get('reason')}"
    if kind == "receiver.stopped":
        return "stopped"
    extra = " ".join(f"{k}={v}" for k, v in f.items() if k != "peer")
    return f"{kind} {extra}"


def cmd_serve(args: argparse.Namespace) -> int:
    from dbseal.server.receiver import Receiver, ReceiverConfig

    host, port = parse_listen(args.listen)
    for option in ("max_connections", "max_handshakes", "max_handshakes_per_address"):
        if getattr(args, option) < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be at least 1")
    for option in ("handshake_timeout", "idle_timeout"):
        if not getattr(args, option) > 0:
            raise UsageError(f"--{option.replace('_', '-')} must be a positive number of seconds")
    config = ReceiverConfig(
        host=host,
        port=port,
        repository=args.repo,
        cert=args.cert,
        key=args.key,
        client_ca=args.client_ca,
        allow=tuple(args.allow or ()),
        append_only=args.append_only,
        max_connections=args.max_connections,
        max_handshakes=args.max_handshakes,
        max_handshakes_per_address=args.max_handshakes_per_address,
        handshake_timeout=args.handshake_timeout,
        idle_timeout=args.idle_timeout,
    )
    reporter: Reporter = JsonLinesReporter(sys.stderr) if args.json else ServeLog(sys.stderr)
    receiver = Receiver(config, reporter)
    try:  # Ctrl-C, and SIGTERM/SIGHUP (main() turns them into KeyboardInterrupt), stop it
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.close()
    return 0
