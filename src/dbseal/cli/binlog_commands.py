"""`dbseal binlog archive|status` and `dbseal restore ... --until` (point-in-time recovery)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dbseal.cli.backup_commands import _password, cmd_restore, repo_recipients
from dbseal.cli.config import apply_config
from dbseal.cli.durations import parse_duration
from dbseal.cli.keyargs import identities_from_args
from dbseal.cli.output import emit, make_reporter
from dbseal.cli.repoopen import open_repo
from dbseal.cli.targets import target_from_args
from dbseal.errors import UsageError


def archive_source_name(name: str | None, target: Any) -> str:
    """A dbseal.toml name, else HOST:PORT (binary logs are the whole server's)."""
    if name:
        return name
    from dbseal.catalog.source_names import derive_source_name

    host = target.host
    return derive_source_name({"host": host, "port": target.port, "socket": target.socket})


def cmd_binlog_archive(args: argparse.Namespace) -> int:
    from dbseal.ops.archive import ArchiveOptions, Archiver

    apply_config(args, args.name)
    if not args.source:
        raise UsageError(
            "no source given",
            hint="pass --source mysql://USER@HOST[:PORT] or a NAME from dbseal.toml",
        )
    repo = open_repo(args.repo, args)
    target = target_from_args(args, args.source, "")
    interval = parse_duration(args.flush_interval).total_seconds()
    if interval <= 0:
        raise UsageError("--flush-interval must be positive", hint="e.g. --flush-interval 60s")
    archiver = Archiver(
        repo,
        archive_source_name(args.name, target),
        target,
        _password(args, "", repo),
        repo_recipients(repo, args, "binlogs"),
        reporter=make_reporter(args),
        options=ArchiveOptions(
            follow=bool(args.follow), flush_interval=interval, scratch_parent=args.scratch_dir
        ),
    )
    if args.follow:  # a service's stop: seal what is complete, then exit 0
        import signal

        signal.signal(signal.SIGTERM, lambda *_: archiver.options.stop.set())
    result = archiver.run()
    to = result["archived_to"]
    text = (
        f"archived {result['segments_written']} segment(s), {result['bytes_written']} bytes; "
        + (f"up to {to['file']}:{to['position']} (GTID {to['gtid']})" if to else "nothing archived")
    )
    if not result["new_gaps"]:
        emit(args, result, text)
    elif not args.json:
        print(text)
    archiver.raise_for_gaps()
    return 0


def cmd_binlog_status(args: argparse.Namespace) -> int:
    from dbseal.catalog.segments import lag_and_gaps

    apply_config(args, None)
    repo = open_repo(args.repo, args)
    status = lag_and_gaps(repo.backend, [args.name] if args.name else None)
    lines = []
    for name, st in status.items():
        to = st["archived_to"]
        where = (
            f"archived up to {to['file']}:{to['position']} GTID {to['gtid']} at {to['time']}, "
            f"lag {st['lag_s']} s"
            if to
            else "nothing archived"
        )
        lines.append(f"{name}: {where}; {len(st['gaps'])} gap(s)")
        lines += [f"  {g}" for g in st["gaps"]]
    emit(args, {"sources": status}, "\n".join(lines) or "no binary logs archived")
    return 0


def cmd_restore_maybe_pitr(args: argparse.Namespace) -> int:
    """`dbseal restore`: with --until/--until-gtid/--until-position, a point-in-time recovery."""
    from dbseal.ops.pitr import parse_target

    target_spec = parse_target(args.until, args.until_gtid, args.until_position)
    if target_spec is None:
        if args.dry_run or args.backup == "auto":
            raise UsageError("--dry-run and `auto` need --until, --until-gtid or --until-position")
        return cmd_restore(args)
    return _restore_pitr(args, target_spec)


def _restore_pitr(args: argparse.Namespace, spec: Any) -> int:
    from dbseal.engines.mariadb.binlog_replay import replay
    from dbseal.engines.mariadb.binlog_stream import scratch_dir
    from dbseal.engines.mariadb.parallel_sink import client_sink
    from dbseal.engines.mariadb.selection import Selection
    from dbseal.engines.mariadb.target_databases import MysqlTargetDatabases
    from dbseal.ops.pitr import PitrPlan, plan_recovery
    from dbseal.ops.pitr_restore import restore_pitr
    from dbseal.ops.pitr_segments import authenticate_segments, remove_scratch
    from dbseal.ops.restore import RestoreOptions

    apply_config(args, None)
    repo = open_repo(args.repo, args)
    plan = plan_recovery(repo, args.backup, spec, args.source_name)
    identities = identities_from_args(args)
    if args.dry_run:
        try:
            authenticate_segments(repo, identities, plan, scratch_dir())
        finally:
            remove_scratch(plan)
        doc = plan.to_json()
        emit(args, doc, _plan_text(doc))
        return 0
    target = target_from_args(args, args.target, "target-")
    if target.databases:
        raise UsageError("the --target URL names a database", hint="drop it from the URL")
    password = _password(args, "target-", None)
    renames = {}
    for item in args.rename_db or []:
        old, _, new = item.partition("=")
        renames[old] = new

    def run_replay(p: PitrPlan, staging: Any) -> None:
        assert p.scratch is not None
        stop = p.stop[1] if p.stop is not None else None
        replay(p.paths, p.start[1], stop, staging, target, password, p.scratch)

    result = restore_pitr(
        repo,
        plan,
        identities,
        lambda: client_sink(target, password, args.jobs),
        Selection(renames, frozenset(args.database) if args.database else None),
        MysqlTargetDatabases(target, password),
        run_replay,
        scratch_dir,
        RestoreOptions(replace=args.replace, allow_failed=args.allow_failed),
        make_reporter(args),
    )
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(f"restored backup {result['id']} and replayed its binary logs")
        print(_plan_text(result["pitr"]))
    return 0


def _plan_text(doc: dict[str, Any]) -> str:
    first, last, stop = doc["first_transaction"], doc["last_transaction"], doc["stop"]
    lines = [
        f"base backup {doc['base']} at {doc['start']['file']}:{doc['start']['position']}",
        f"target: {doc['target']}",
        f"segments: {len(doc['segments'])} ("
        + ", ".join(f"{s['file']}:{s['start']}-{s['end']}" for s in doc["segments"])
        + ")",
        f"transactions to apply: {doc['transactions']}",
    ]
    if first and last:
        lines.append(
            f"first: {first['gtid']} at {first['file']}:{first['position']} {first['time']}"
        )
        lines.append(f"last: {last['gtid']} at {last['file']}:{last['position']} {last['time']}")
    lines.append(
        f"stops before {stop['file']}:{stop['position']}"
        if stop
        else "stops at the end of the archive"
    )
    return "\n".join(lines)


def cmd_verify_maybe_pitr(args: argparse.Namespace) -> int:
    """`dbseal verify`: with --pitr, a point-in-time recovery into a throwaway server."""
    from dbseal.cli.verify_commands import cmd_verify
    from dbseal.ops.pitr import parse_target

    spec = parse_target(args.until, args.until_gtid, args.until_position)
    if not args.pitr:
        if spec is not None:
            raise UsageError("--until, --until-gtid and --until-position need --pitr")
        return cmd_verify(args)
    if spec is None:
        raise UsageError("--pitr needs --until, --until-gtid or --until-position")
    if len(args.backups) > 1 or args.all or args.since:
        raise UsageError("--pitr checks one recovery", hint="give one backup id, or none for auto")
    return _verify_pitr(args, spec)


def _verify_pitr(args: argparse.Namespace, spec: Any) -> int:
    from dbseal.crypto.secret import Secret
    from dbseal.engines.mariadb.binlog_replay import replay
    from dbseal.engines.mariadb.binlog_stream import scratch_dir
    from dbseal.engines.mariadb.connect import connect, quote_ident
    from dbseal.engines.mariadb.mysql_url import parse_mysql_url
    from dbseal.engines.mariadb.parallel_sink import client_sink
    from dbseal.engines.mariadb.sandbox import MariaDBSandbox
    from dbseal.engines.mariadb.selection import Selection
    from dbseal.engines.mariadb.target_databases import MysqlTargetDatabases
    from dbseal.errors import CheckNotRun, SandboxError
    from dbseal.ops.pitr import PitrPlan, plan_recovery
    from dbseal.ops.pitr_restore import restore_pitr

    apply_config(args, None)
    repo = open_repo(args.repo, args)
    plan = plan_recovery(repo, args.backups[0] if args.backups else "auto", spec, args.source_name)
    identities = identities_from_args(args)
    try:
        server = MariaDBSandbox(tls=False).start()
    except SandboxError as exc:
        raise CheckNotRun(
            f"the throwaway MariaDB server could not be started: {exc.message}"
        ) from None
    try:
        target = parse_mysql_url(f"mysql://root@127.0.0.1:{server.port}", ssl_mode="disabled")
        password = Secret(server.root_password.encode())

        def run_replay(p: PitrPlan, staging: Any) -> None:
            assert p.scratch is not None
            stop = p.stop[1] if p.stop is not None else None
            replay(p.paths, p.start[1], stop, staging, target, password, p.scratch)

        result = restore_pitr(
            repo,
            plan,
            identities,
            lambda: client_sink(target, password, 2),
            Selection({}, None),
            MysqlTargetDatabases(target, password),
            run_replay,
            scratch_dir,
            reporter=make_reporter(args),
        )
        rows: dict[str, int] = {}
        conn = connect(target, password)
        try:
            with conn.cursor() as cur:
                for db in result["databases"]:
                    cur.execute(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                        (db,),
                    )
                    for (table,) in cur.fetchall():
                        cur.execute(f"SELECT COUNT(*) FROM {quote_ident(db)}.{quote_ident(table)}")
                        row = cur.fetchone()
                        rows[f"{db}.{table}"] = int(row[0]) if row else 0
        finally:
            conn.close()
    finally:
        server.stop()
    doc = {**result["pitr"], "result": "ok", "rows": rows}
    text = _plan_text(doc) + "\n" + "\n".join(f"  {t}: {n} rows" for t, n in sorted(rows.items()))
    emit(args, doc, "point-in-time recovery verified in a throwaway server\n" + text)
    return 0
