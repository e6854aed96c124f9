"""`dbseal report`: gather the facts, render HTML (and PDF), print the files' hashes."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
from typing import Any

from dbseal.cli.config import apply_config, find_config, load_config
from dbseal.cli.durations import parse_duration
from dbseal.cli.keyargs import open_keyring
from dbseal.cli.repoopen import open_repo
from dbseal.crypto.x25519 import X25519Recipient
from dbseal.errors import ReportExtraMissing, UsageError
from dbseal.fsutil import atomic_write
from dbseal.report.options import DEFAULT_MAX_AGE, DEFAULT_PERIOD, ReportOptions


def _date(text: str, what: str) -> datetime.datetime:
    try:
        t = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid {what} {text!r}", hint="write a date like 2026-01-31 or 2026-01-31T12:00"
        ) from None
    return t.replace(tzinfo=datetime.UTC) if t.tzinfo is None else t.astimezone(datetime.UTC)


def _config_objectives(args: argparse.Namespace) -> dict[str, Any]:
    """``[check]`` thresholds from dbseal.toml, when the file has that table."""
    path = find_config(getattr(args, "config", None))
    if path is None:
        return {}
    table = load_config(path).get("check")
    return table if isinstance(table, dict) else {}


def options_from(args: argparse.Namespace, policy_rotation_days: int) -> ReportOptions:
    until = _date(args.until, "--until") if args.until else datetime.datetime.now(datetime.UTC)
    since = _date(args.since, "--since") if args.since else until - DEFAULT_PERIOD
    if since >= until:
        raise UsageError("--since must be before --until")
    conf = _config_objectives(args)
    max_age = args.max_age or conf.get("max_age_warning")
    rto = args.rto or conf.get("rto")
    escrow = args.escrow or conf.get("escrow_recipients") or []
    if isinstance(escrow, str):
        escrow = [escrow]
    rotation = args.rotation_days
    if rotation is None and conf.get("key_rotation"):
        rotation = int(parse_duration(conf["key_rotation"]).total_seconds() // 86400)
    if rotation is not None and rotation < 1:
        raise UsageError("--rotation-days must be at least 1")
    return ReportOptions(
        since=since,
        until=until,
        sources=tuple(args.sources or ()),
        max_age=parse_duration(max_age) if max_age else DEFAULT_MAX_AGE,
        rto=parse_duration(rto) if rto else None,
        rotation_days=rotation or policy_rotation_days,
        escrow=tuple(X25519Recipient.parse(e).encode() for e in escrow),
    )


def _render(facts: dict[str, Any]) -> str:
    try:
        from dbseal.report.render import render_html
    except ImportError as exc:
        raise ReportExtraMissing(
            f"the HTML report needs {exc.name or 'jinja2 and matplotlib'}, which is not installed"
        ) from None
    return render_html(facts)


def cmd_report(args: argparse.Namespace) -> int:
    if not (args.output or args.pdf or args.json):
        raise UsageError(
            "nothing to write", hint="give -o report.html, --pdf report.pdf and/or --json"
        )
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    opts = options_from(args, repo.config.policy.max_key_age_days)
    ring = open_keyring(args) if args.keyring else None
    from dbseal.report.events import read_events
    from dbseal.report.facts import build_facts

    events = read_events(args.events_file) if args.events_file else None
    facts = build_facts(repo, opts, ring, events)
    written: dict[str, dict[str, Any]] = {}
    if args.output or args.pdf:
        html = _render(facts)
        pdf = None
        if args.pdf:
            from dbseal.report.pdf import html_to_pdf

            pdf = html_to_pdf(html)  # before writing anything: no HTML without the asked PDF
        for kind, path, data in (("html", args.output, html.encode()), ("pdf", args.pdf, pdf)):
            if path and data is not None:
                atomic_write(path, data, mode=0o644)
                written[kind] = {
                    "path": path,
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
    if args.json:
        print(json.dumps({**facts, "written": written}, default=str))
        return 0
    s = facts["summary"]
    print(
        f"report of {facts['repository']['backups_in_period']} backups of "
        f"{len(facts['sources'])} source(s), {opts.since:%Y-%m-%d} to {opts.until:%Y-%m-%d}: "
        f"{len(s['fine'])} fine, {len(s['attention'])} need attention"
    )
    for line in s["attention"]:
        print(f"  attention: {line}")
    for kind, w in written.items():
        print(f"wrote {w['path']} ({kind}, {w['bytes']} bytes) sha256 {w['sha256']}")
    return 0
