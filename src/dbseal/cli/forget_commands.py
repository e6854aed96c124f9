"""`dbseal forget`: delete backups by id, or by a retention policy (docs/operations.md).

The policy comes from the ``--keep-*`` options (then it applies to every source)
or, without them, from dbseal.toml: ``[sources.NAME.retention]`` for source
NAME, else ``[retention]``. A source table replaces the top-level one (keys are
not merged). An empty policy is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from dbseal.catalog.retention import (
    DEFAULT_FAILED_WITHIN,
    UNITS,
    RetentionPolicy,
    WithinRule,
)
from dbseal.cli.config import apply_config, find_config, load_config
from dbseal.cli.durations import parse_duration
from dbseal.cli.output import make_reporter
from dbseal.cli.repoopen import open_repo
from dbseal.errors import PrunePartial, UsageError
from dbseal.ops.forget import ForgetReport, PolicyFor, forget_by_policy, forget_ids

_COUNTS = ("last", *UNITS)
_EMPTY_HINT = (
    "give at least one of --keep-last/--keep-hourly/--keep-daily/--keep-weekly/"
    "--keep-monthly/--keep-yearly N or --keep-within DURATION, a [retention] table in "
    "dbseal.toml, or backup IDs"
)


def policy_from(values: Mapping[str, Any]) -> RetentionPolicy:
    """A policy from ``keep_*`` keys (dbseal.toml names; the options map onto them)."""
    counts: dict[str, int | None] = {}
    for unit in _COUNTS:
        count = values.get(f"keep_{unit}")
        if count is not None and count < -1:
            raise UsageError(f"--keep-{unit} {count}: give a count, or -1 for all")
        counts[unit] = count
    within = values.get("keep_within")
    failed = values.get("keep_failed_within")
    return RetentionPolicy(
        **counts,
        within=WithinRule(parse_duration(within), within) if within else None,
        failed_within=parse_duration(failed) if failed else DEFAULT_FAILED_WITHIN,
    )


def _cli_values(args: argparse.Namespace) -> dict[str, Any]:
    keys = [f"keep_{u}" for u in _COUNTS] + ["keep_within", "keep_failed_within"]
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


def _config_policies(args: argparse.Namespace) -> PolicyFor:
    path = find_config(getattr(args, "config", None))
    doc = load_config(path) if path else {}
    top = doc.get("retention")
    per_source = {
        name: table["retention"]
        for name, table in doc.get("sources", {}).items()
        if "retention" in table
    }
    policies = {
        name: _nonempty(policy_from(t), f"[sources.{name}.retention]")
        for name, t in per_source.items()
    }
    default = _nonempty(policy_from(top), "[retention]") if top is not None else None
    if default is None and not policies:
        raise UsageError("no retention policy given: refusing to forget", hint=_EMPTY_HINT)
    return lambda source: policies.get(source, default)


def _nonempty(policy: RetentionPolicy, where: str) -> RetentionPolicy:
    if policy.empty:
        raise UsageError(f"the retention policy {where} keeps nothing: refused", hint=_EMPTY_HINT)
    return policy


def cmd_forget(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    values = _cli_values(args)
    lock_timeout = parse_duration(args.lock_timeout).total_seconds()
    reporter = make_reporter(args)
    if args.backups:
        if values:
            raise UsageError("give backup IDs or a --keep-* policy, not both")
        report = forget_ids(
            repo,
            args.backups,
            source=args.source_name,
            shred=args.shred,
            dry_run=args.dry_run,
            lock_timeout_s=lock_timeout,
            reporter=reporter,
        )
    else:
        if args.shred:
            raise UsageError("--shred needs backup IDs", hint="name the backups to shred")
        if values:
            policy = _nonempty(policy_from(values), "on the command line")
            policy_for: PolicyFor = lambda _source: policy  # noqa: E731
        else:
            policy_for = _config_policies(args)
        sources = [args.source_name] if args.source_name else None
        report = forget_by_policy(
            repo,
            policy_for,
            sources=sources,
            dry_run=args.dry_run,
            lock_timeout_s=lock_timeout,
            reporter=reporter,
        )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report, args.shred)
    if not report.complete:
        err = PrunePartial(
            f"{len(report.locked)} backup(s) under Object Lock and {len(report.failed)} "
            "refused delete(s) were not removed"
        )
        print(err.one_line(), file=sys.stderr)
        return err.exit_code
    return 0


def _print_report(report: ForgetReport, shred: bool) -> None:
    for source, plan in report.plans.items():
        print(f"source {source}: policy {plan['policy']}")
        for d in plan["decisions"]:
            what = "keep  " if d["keep"] else "remove"
            why = ", ".join(d["reasons"]) if d["keep"] else d["status"]
            print(f"  {what} {d['id']}  {d['started']}  {why}")
    for item in report.untouched:
        print(f"not touched: {item.get('id') or 'source ' + item['source']}: {item['reason']}")
    for item in report.locked:
        print(f"locked until {item['until']}: {item['id']} (S3 Object Lock; not deleted)")
    for item in report.failed:
        print(f"FAILED: {item['id']}: {item['error']}", file=sys.stderr)
    if report.dry_run:
        print(f"dry run: {len(report.would_remove)} backup(s) would be removed; nothing deleted")
        return
    how = "shredded (key envelope destroyed first)" if shred else "removed"
    print(f"{len(report.removed)} backup(s) {how}")
