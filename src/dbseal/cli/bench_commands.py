"""`dbseal bench`: the command function (the work is in ops/codec_bench.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dbseal.cli.output import emit
from dbseal.errors import InputError, UsageError
from dbseal.ops.codec_bench import DEFAULT_SPECS, CodecResult, bench_codecs, recommend


def _read_up_to(read: Any, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        block = read(min(1 << 20, size - got))
        if not block:
            break
        parts.append(bytes(block))
        got += len(block)
    return b"".join(parts)


def _sample(args: argparse.Namespace) -> tuple[bytes, str]:
    """The first ``--sample`` bytes of the input, in memory, and what they came from."""
    text = args.input
    if "://" in text:
        from dbseal.cli.backup_commands import _password
        from dbseal.cli.targets import target_from_args
        from dbseal.engines.registry import engine_for_url

        if getattr(args, "password_secret", None):
            raise UsageError(
                "dbseal bench opens no repository, so --password-secret cannot be read",
                hint="give the password with --password-file, --password-fd or --password-command",
            )
        target = target_from_args(args, text, "")
        engine = engine_for_url(text)
        source = engine.backup_source("logical", target, _password(args, "", None), {})
        with source.start() as run:  # leaving it stops the dump (the rest is not needed)
            return _read_up_to(run.read, args.sample), f"a dump of {target.address()}"
    if text == "-":
        return _read_up_to(sys.stdin.buffer.read, args.sample), "standard input"
    try:
        with open(text, "rb") as f:
            return _read_up_to(f.read, args.sample), text
    except OSError as exc:
        raise InputError(f"cannot read {text}: {exc.strerror or exc}") from None


def _table(results: list[CodecResult]) -> str:
    head = f"{'codec':<9} {'size':>7} {'saved':>6} {'seal MB/s':>10} {'unseal MB/s':>12}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r.codec:<9} {r.ratio:>7.1%} {1 - r.ratio:>6.1%} "
            f"{r.seal_mb_s:>10.1f} {r.unseal_mb_s:>12.1f}"
        )
    return "\n".join(rows)


def cmd_bench(args: argparse.Namespace) -> int:
    specs = tuple(s.strip() for s in args.codecs.split(",") if s.strip()) if args.codecs else None
    sample, origin = _sample(args)
    if not sample:
        raise UsageError(f"{origin} gave no data to measure")
    results = bench_codecs(sample, specs or DEFAULT_SPECS)
    spec, reason = recommend(results, args.min_speed)
    doc = {
        "input": origin,
        "sample_bytes": len(sample),
        "min_speed_mb_s": args.min_speed,
        "results": [r.to_json() for r in results],
        "recommendation": spec,
        "reason": reason,
    }
    text = (
        f"{len(sample) / 1e6:.1f} MB sample of {origin}, sealed and unsealed in memory\n"
        f"{_table(results)}\n"
        f"recommended repository default: {spec} ({reason})\n"
        f"(for a new repository: dbseal init --compress {spec} ...)"
    )
    emit(args, doc, text)
    return 0
