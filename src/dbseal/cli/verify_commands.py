"""`dbseal verify`: check one, several or all backups at a chosen level."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.source_names import source_name
from dbseal.cli.config import apply_config
from dbseal.cli.durations import parse_duration
from dbseal.cli.keyargs import identities_from_args
from dbseal.cli.output import make_reporter
from dbseal.cli.repoopen import open_repo
from dbseal.cli.secrets_args import secret_source
from dbseal.cli.targets import target_from_args
from dbseal.errors import UsageError
from dbseal.monitoring.retries import StorageRetries
from dbseal.ops.verify import Verification, verify_backup

_VERDICT_CODES = (30, 31)  # the backup's failures come first in the exit status


def _select(repo: Any, args: argparse.Namespace) -> list[str]:
    source = args.source_name
    if args.all or args.since:
        cutoff = None
        if args.since:
            cutoff = (datetime.datetime.now(datetime.UTC) - parse_duration(args.since)).isoformat()
        out = []
        for m in repo.manifests():
            # good backups, and damaged manifests (verify reports those as integrity failures)
            if m.get("status") not in (*mf.GOOD_STATUSES, "damaged"):
                continue
            if cutoff and str(m.get("started", "")) < cutoff:
                continue
            if source is not None and source_name(m) != source:
                continue
            out.append(str(m["id"]))
        return out
    return [repo.resolve(ref, source) for ref in (args.backups or ["latest"])]


def _restore_check(args: argparse.Namespace) -> Any:
    """The restore-level check; physical backups always use a throwaway datadir server."""
    logical = _logical_check(args)
    if logical is None:
        return None
    from dbseal.cli.physrestore_commands import by_method

    return by_method(logical)


def _logical_check(args: argparse.Namespace) -> Any:
    if args.level != "restore":
        return None
    if args.scratch:
        from dbseal.engines.mariadb.verify_restore import scratch_check

        if str(args.scratch).startswith(("postgresql://", "postgres://")):
            raise UsageError(
                "--scratch takes a MariaDB server; PostgreSQL backups are verified in a "
                "throwaway server dbseal starts itself",
                hint="drop --scratch (PostgreSQL's initdb and postgres must be installed)",
            )

        target = target_from_args(args, args.scratch, "scratch-")
        src = secret_source(args, "scratch-password")
        return scratch_check(target, src.get("scratch server password") if src.is_given() else None)
    from dbseal.engines.mariadb.verify_restore import ThrowawayCheck

    return _by_engine(ThrowawayCheck())


def _by_engine(mariadb_check: Any) -> Any:
    """The throwaway-server check of the backup's own engine (PostgreSQL or MariaDB)."""
    from dbseal.ops.verify import RoutedCheck

    def choose(manifest: Any) -> Any:
        from dbseal.engines.postgresql.restore_run import is_postgresql, throwaway_check

        return throwaway_check if is_postgresql(manifest) else mariadb_check

    return RoutedCheck(choose)


def _human(v: Verification) -> str:
    head = f"{v.backup_id}  {v.level:9}  {v.result.upper()}  {v.duration_s:.2f} s"
    if v.restore_s is not None:
        head += f" (restore {v.restore_s:.2f} s)"
    lines = [head]
    notes = []
    for t in v.tables:
        mark = "ok" if t["ok"] else "MISMATCH"
        if t["expected_checksum"] is None:
            check = ""
        elif t["found_checksum"] is None:
            check = ", checksum not compared"
        else:
            check = f", checksum {'=' if t['expected_checksum'] == t['found_checksum'] else '!='}"
        want, got = t.get("expected_values"), t.get("found_values")
        if want is not None and got is not None and want != got and "!=" not in check:
            check += ", stored values !="  # what the dump text hid (docs/restore.md)
        lines.append(
            f"    {t['database']}.{t['table']}: {t['found_rows']} rows (expected {t['expected_rows']}{check}) {mark}"
        )
        if t.get("note") and t["note"] not in notes:
            notes.append(t["note"])
    lines += [f"    note: {n}" for n in [*v.notes, *notes]]
    lines += [f"    problem: {p}" for p in v.problems if v.result != "ok"]
    if v.result == "error":
        lines.append(
            "    not recorded: the check could not be carried out; this says nothing about "
            "the backup, `list` and `show` keep its last verification"
        )
    return "\n".join(lines)


def cmd_verify(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    bids = _select(repo, args)
    if not bids:
        raise UsageError(
            "no backup matches", hint="check `dbseal list`; --all and --since skip failed backups"
        )
    identities = identities_from_args(args) if args.level != "integrity" else []
    check = _restore_check(args)
    reporter = make_reporter(args)
    retries = StorageRetries(reporter, repo.backend)
    results, retried, before = [], [], 0  # the first one counts opening the repository too
    for bid in bids:
        v = verify_backup(repo, bid, args.level, identities, check, reporter)
        results.append(v)
        retried.append(retries.count - before)
        before = retries.count
        if not args.json:
            print(_human(v), flush=True)
    failed = [v for v in results if v.result != "ok"]
    if args.json:
        docs = [
            {**v.to_json(), "storage_retries": n} for v, n in zip(results, retried, strict=True)
        ]
        print(json.dumps(docs, indent=2))
    elif len(results) > 1:
        print(
            f"{len(results) - len(failed)} of {len(results)} backups verified at level {args.level}"
        )
        for v in failed:
            print(
                f"  {v.result.upper()} {v.backup_id}: {v.problems[0] if v.problems else v.error_class}"
            )
    if retries.count and not args.json:
        print(retries.summary().removeprefix(", "))
    if not failed:
        return 0
    bad = [v.exit_code for v in failed if v.exit_code in _VERDICT_CODES]
    return bad[0] if bad else failed[0].exit_code
