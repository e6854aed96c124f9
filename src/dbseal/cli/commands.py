"""One function per command: parse-level glue around one ops call each."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from dbseal import errors
from dbseal.cli.keyargs import (
    KEYRING_PASSPHRASE_ENV,
    identities_from_args,
    open_keyring,
    recipients_from_args,
)
from dbseal.cli.output import emit
from dbseal.cli.secrets_args import secret_source
from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring
from dbseal.crypto.x25519 import X25519Identity
from dbseal.errors import InputError, OutputError, UsageError
from dbseal.fsutil import atomic_output
from dbseal.monitoring.sizes import human_size
from dbseal.ops.inspect import inspect_stream
from dbseal.ops.seal import open_sealed, seal_stream
from dbseal.pipeline import BackgroundWriter, SyncingFile


@contextlib.contextmanager
def _input(path: str | None) -> Iterator[BinaryIO]:
    if path in (None, "-"):
        yield sys.stdin.buffer
        return
    assert path is not None
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; open errors mapped here
    except OSError as exc:
        raise InputError(f"cannot open {path!r}: {exc.strerror}") from None
    with fh:
        yield fh


@contextlib.contextmanager
def _output(path: str | None, binary_to_tty_ok: bool) -> Iterator[BinaryIO]:
    if path in (None, "-"):
        if not binary_to_tty_ok and sys.stdout.isatty():
            raise UsageError(
                "refusing to write sealed binary data to a terminal", hint="use -o FILE or a pipe"
            )
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    assert path is not None
    if os.path.exists(path) and not os.path.isfile(path):
        # A FIFO or a device (e.g. /dev/null): write into it, never replace it.
        try:
            with open(path, "wb") as fh:
                yield fh
        except OSError as exc:
            raise OutputError(f"cannot write {path!r}: {exc.strerror}") from None
        return
    try:
        with atomic_output(path, mode=0o600) as fh:
            yield SyncingFile(fh)  # type: ignore[misc]
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {exc.strerror}") from None


def cmd_keygen(args: argparse.Namespace) -> int:
    ident = X25519Identity.generate()
    text = ident.identity_file_text().encode()
    if args.output:
        if os.path.exists(args.output):
            raise OutputError(
                f"{args.output!r} exists; refusing to overwrite a key",
                hint="choose another -o path",
            )
        with _output(args.output, True) as fh:
            fh.write(text)
        recipient = ident.recipient().encode()
        emit(args, {"recipient": recipient, "identity_file": args.output}, recipient)
    else:
        if getattr(args, "json", False):
            raise UsageError("--json needs -o FILE", hint="without -o the identity is the output")
        sys.stdout.buffer.write(text)
    return 0


def _needs_output(args: argparse.Namespace) -> None:
    if getattr(args, "json", False) and not args.output:
        raise UsageError(
            "--json needs -o FILE", hint="without -o the standard output carries the data"
        )


def cmd_seal(args: argparse.Namespace) -> int:
    recipients = recipients_from_args(args)
    codec = parse_codec(args.compress)
    label = {}
    for kv in args.label or []:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid --label {kv!r}", hint="write --label KEY=VALUE")
        label[key] = value
    _needs_output(args)
    with _input(args.input) as src, _output(args.output, False) as out:
        seal_stream(src, out, recipients, codec, label)
    if args.json:
        emit(args, {"output": args.output, "bytes": os.path.getsize(args.output)}, "")
    return 0


def cmd_unseal(args: argparse.Namespace) -> int:
    identities = identities_from_args(args)
    _needs_output(args)
    with _input(args.input) as src:
        _header, plain = open_sealed(src, identities)
        with _output(args.output, True) as out:
            writer = BackgroundWriter(out)
            try:
                for piece in plain:
                    writer.write(piece)
            except BaseException:
                writer.abort()
                raise
            writer.close()
    if args.json:
        emit(args, {"output": args.output, "bytes": os.path.getsize(args.output)}, "")
    return 0


def _printable(value: object) -> str:
    """Text from a file, made safe for a terminal (no control characters)."""
    text = str(value)
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _human_inspect(info: dict[str, Any]) -> str:
    lines = [
        f"format:       dbseal version {info['format_version']}",
        f"cipher suite: {info['suite']}",
        f"compression:  {info['compression']} (level {info['compression_level']})",
        f"file id:      {info['file_id']}",
        f"label:        {json.dumps(info['label'], sort_keys=True)}",
        f"recipients:   {len(info['stanzas'])}",
    ]
    for s in info["stanzas"]:
        extra = ", ".join(f"{k}={_printable(v)}" for k, v in s.items() if k != "type")
        lines.append(f"  - {_printable(s['type'])}" + (f": {extra}" if extra else ""))
    if info["integrity"] == "ok":
        lines += [
            f"size:         {human_size(info['file_bytes'])} ({human_size(info['payload_bytes'])} payload)",
            f"sha256:       {info['sha256']}",
            "integrity:    ok (trailer matches; checked without a key)",
        ]
    else:
        lines.append(f"integrity:    FAILED: {info['integrity_error']}")
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    with _input(args.input) as src:
        info = inspect_stream(src)
    print(json.dumps(info, indent=2, sort_keys=True) if args.json else _human_inspect(info))
    if info["integrity"] == "ok":
        return 0
    err: errors.DbsealError = getattr(errors, info["error_class"])(info["integrity_error"])
    print(err.one_line(), file=sys.stderr)
    return err.exit_code


def cmd_keys_init(args: argparse.Namespace) -> int:
    src = secret_source(args, "keyring-passphrase", KEYRING_PASSPHRASE_ENV)
    ring = Keyring.init(args.keyring, src.get("keyring passphrase", confirm=True), args.key)
    emit(
        args,
        {"keyring_id": ring.keyring_id.hex(), "keyring": args.keyring, "key": f"{args.key}:1"},
        f"created keyring {ring.keyring_id.hex()} in {args.keyring} with key {args.key}:1",
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    ring = open_keyring(args)
    rows = [
        {"key": name, "version": v.version, "created": v.created, "state": v.state}
        for name, versions in sorted(ring.keys.items())
        for v in versions
    ]
    if args.json:
        print(json.dumps({"keyring_id": ring.keyring_id.hex(), "keys": rows}, indent=2))
    else:
        print(f"keyring {ring.keyring_id.hex()} ({args.keyring})")
        for r in rows:
            print(f"  {r['key']}:{r['version']}  {r['state']:8}  created {r['created']}")
    return 0
