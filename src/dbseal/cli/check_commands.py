"""`dbseal check`: the monitoring entry point (docs/operations.md, Monitoring).

Thresholds: the defaults (:mod:`dbseal.monitoring.thresholds`), then ``[check]``
in dbseal.toml, then ``[sources.NAME.check]`` (per key), then ``-w/-c`` for the
backup age. Exit status: 0 all OK, 33 some WARNING (ChecksWarning), 34 some
CRITICAL or UNKNOWN (ChecksCritical); with ``--nagios`` the plugin statuses
0/1/2/3 instead, and every failure to check (bad arguments, unreadable config,
unreachable repository, timeout) is UNKNOWN (3).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.cli import check_output
from dbseal.cli.check_args import nagios_unknown
from dbseal.cli.config import apply_config, find_config, load_config
from dbseal.cli.deadline import Expired, deadline
from dbseal.cli.durations import parse_duration
from dbseal.cli.repoopen import tls_files
from dbseal.crypto.keyring import Keyring
from dbseal.errors import ChecksCritical, ChecksWarning, DbsealError, UsageError
from dbseal.monitoring.prometheus import write_textfile
from dbseal.monitoring.status import CheckResult, Status
from dbseal.monitoring.thresholds import DEFAULT, Thresholds
from dbseal.ops.check import HealthReport, ThresholdsFor, check_health
from dbseal.storage import open_backend, retrier_of

NAGIOS_TIMEOUT_S = 30.0
_SECONDS = re.compile(r"^\d+(\.\d+)?$")
_DURATIONS = {
    "max_age_warning": "max_age_warning_s",
    "max_age_critical": "max_age_critical_s",
    "verify_max_age": "verify_max_age_s",
    "rto": "rto_s",
    "key_rotation": "key_rotation_s",
    "escrow_within": "escrow_within_s",
}


def seconds(text: str, what: str) -> float:
    """``26h``, ``30m``... or a plain number of seconds (what Nagios users write)."""
    if _SECONDS.match(text.strip()):
        value = float(text)
    else:
        try:
            value = parse_duration(text).total_seconds()
        except UsageError:
            raise UsageError(
                f"{what} {text!r} is not a duration", hint="write e.g. 26h, 90m or 3600"
            ) from None
    if value <= 0:
        raise UsageError(f"{what} {text!r} must be more than zero")
    return value


def _apply(t: Thresholds, table: Mapping[str, Any]) -> Thresholds:
    changes: dict[str, object] = {}
    for key, attr in _DURATIONS.items():
        if key in table:
            changes[attr] = parse_duration(str(table[key])).total_seconds()
    if "failed_critical" in table:
        changes["failed_critical"] = int(table["failed_critical"])
    if "require_escrow" in table:
        changes["require_escrow"] = bool(table["require_escrow"])
    if "escrow_recipients" in table:
        value = table["escrow_recipients"]
        changes["escrow_recipients"] = tuple([value] if isinstance(value, str) else value)
    return t.replace(**changes)


def thresholds_from(
    doc: Mapping[str, Any], warning: str | None = None, critical: str | None = None
) -> ThresholdsFor:
    base = _apply(DEFAULT, doc.get("check") or {})
    per_source = {
        name: _apply(base, table["check"])
        for name, table in (doc.get("sources") or {}).items()
        if table.get("check")
    }
    overrides: dict[str, object] = {}
    if warning is not None:
        overrides["max_age_warning_s"] = seconds(warning, "-w/--warning")
    if critical is not None:
        overrides["max_age_critical_s"] = seconds(critical, "-c/--critical")

    def thresholds_for(source: str) -> Thresholds:
        t = per_source.get(source, base).replace(**overrides)
        if t.max_age_warning_s > t.max_age_critical_s:
            raise UsageError(
                f"source {source}: the backup-age warning ({t.max_age_warning_s:g}s) is above "
                f"the critical threshold ({t.max_age_critical_s:g}s)",
                hint="give -w below -c (or max_age_warning below max_age_critical)",
            )
        return t

    return thresholds_for


def _keyring(args: argparse.Namespace, notes: list[str]) -> Keyring | None:
    """The keyring (for key creation times) when it and its passphrase are configured.

    A keyring that does not open is a note, not a failure: key ages then come from
    the backups (first use), as without a keyring."""
    from dbseal.cli.keyargs import KEYRING_PASSPHRASE_ENV, open_keyring
    from dbseal.cli.secrets_args import secret_source

    if not args.keyring:
        return None
    src = secret_source(args, "keyring-passphrase", KEYRING_PASSPHRASE_ENV)
    if not src.is_given() or src.prompt:
        return None  # never prompt from a monitoring run
    try:
        return open_keyring(args)
    except DbsealError as exc:
        notes.append(f"keyring not opened ({exc.message}); key ages are from first use")
        return None


def _configured(doc: Mapping[str, Any], repo: str | None) -> list[str]:
    """dbseal.toml's sources, when they back up into the repository being checked."""
    target = doc.get("repository")
    if target is not None and repo is not None and _place(target) != _place(repo):
        return []
    return sorted((doc.get("sources") or {}).keys())


def _place(location: str) -> str:
    return location if "://" in location else os.path.abspath(location)


def _opener(args: argparse.Namespace, timeout_s: float | None) -> Any:
    def open_repository() -> Repository:
        if not args.repo:
            raise UsageError(
                "no repository given", hint="pass --repo REPO or set `repository` in dbseal.toml"
            )
        backend = open_backend(args.repo, tls_files(args))
        retrier = retrier_of(backend)
        if timeout_s is not None and retrier is not None:
            # an outage must be reported as such within the time limit, not retried past it
            budget = min(retrier.policy.budget_s, timeout_s / 3)
            retrier.policy = dataclasses.replace(retrier.policy, budget_s=budget)
        return Repository.open(backend)

    return open_repository


def _report(args: argparse.Namespace, timeout_s: float | None) -> HealthReport:
    apply_config(args, None)
    path = find_config(getattr(args, "config", None))
    doc = load_config(path) if path else {}
    thresholds_for = thresholds_from(doc, args.warning, args.critical)
    for name in args.sources:
        thresholds_for(name)  # a bad threshold is a usage error before any storage call
    notes: list[str] = []
    report = check_health(
        _opener(args, timeout_s),
        _label(args.repo),
        thresholds_for,
        sources=args.sources or None,
        configured=_configured(doc, args.repo),
        integrity=not args.no_integrity,
        keyring=_keyring(args, notes),
    )
    report.notes += notes
    return report


def _label(repo: str | None) -> str:
    """The repository as reports name it: as given, without URL parameters."""
    return str(repo).split("?", 1)[0]


def _timed_out(args: argparse.Namespace, timeout_s: float) -> HealthReport:
    reason = f"no result within {timeout_s:g}s (repository {args.repo} not answering?)"
    return HealthReport(
        _label(args.repo),
        time.time(),
        CheckResult("repository", Status.UNKNOWN, reason),
        False,
    )


def cmd_check(args: argparse.Namespace) -> int:
    nagios = bool(args.nagios)
    if nagios:
        args.quiet = False  # a plugin's status line is its output: -q adds nothing to stderr either
    try:
        timeout_s = seconds(args.timeout, "-t/--timeout") if args.timeout else None
        if timeout_s is None and nagios:
            timeout_s = NAGIOS_TIMEOUT_S
        with deadline(timeout_s, lambda: _stuck(nagios, timeout_s or 0)):
            try:
                report = _report(args, timeout_s)
                if args.prometheus:
                    write_textfile(args.prometheus, check_output.prometheus(report))
            except Expired:
                report = _timed_out(args, timeout_s or 0)
                if args.prometheus:
                    write_textfile(args.prometheus, check_output.prometheus(report))
    except Expired:
        report = _timed_out(args, timeout_s or 0)
    except DbsealError as exc:
        if nagios:
            nagios_unknown(exc.message)
        raise
    except Exception as exc:  # a bug: a plugin still answers UNKNOWN, never a traceback
        if nagios and not os.environ.get("DBSEAL_DEBUG"):
            nagios_unknown(f"internal error {type(exc).__name__}: {exc}")
        raise
    return _show(args, report)


def _show(args: argparse.Namespace, report: HealthReport) -> int:
    if args.nagios:
        line, rc = check_output.nagios(report)
        print(line, file=sys.__stdout__, flush=True)  # the plugin's output: never muted by -q
        return rc
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(check_output.table(report))
    status = report.status
    if status is Status.OK:
        return 0
    found = check_output.problems(report)
    first = (
        f"{found[0][0]} {found[0][1].name}: {found[0][1].reason}" if found else "nothing to check"
    )
    err: DbsealError
    if status is Status.WARNING:
        err = ChecksWarning(f"{len(found)} check(s) WARNING, e.g. {first}")
    else:
        err = ChecksCritical(f"{len(found) or 1} check(s) CRITICAL or UNKNOWN, e.g. {first}")
    if not args.quiet:  # with -q the command line prints its own one line
        print(err.one_line(), file=sys.stderr)
    return err.exit_code


def _stuck(nagios: bool, timeout_s: float) -> None:
    """The watchdog: the main thread could not be interrupted; end the process now."""
    if nagios:
        line = f"DBSEAL UNKNOWN - no result within {timeout_s:g}s (storage call did not return)\n"
        os.write(1, line.encode())
        os._exit(3)
    msg = f"dbseal: error: no result within {timeout_s:g}s (hint: {ChecksCritical.hint})\n"
    os.write(2, msg.encode())
    os._exit(ChecksCritical.exit_code)
