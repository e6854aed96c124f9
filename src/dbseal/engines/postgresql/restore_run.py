"""A PostgreSQL restore and the restore-level verification, composed from ``ops.restore``'s
two passes (authenticate everything, then apply) and :mod:`.restore`'s sink.

``restore_pg``: the targets are checked before pass 1 and again after it (the target may
have changed meanwhile), then pass 2 streams into :class:`~.restore.PgRestoreSink`.
``throwaway_check``: ``verify --level restore`` on a :class:`~.sandbox.PostgresSandbox`,
roles from the globals included; compares every table's row count with the manifest's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.crypto.recipients import Identity
from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql.psql import Session
from dbseal.engines.postgresql.restore import PgRestorePlan, PgRestoreSink, check_targets
from dbseal.engines.postgresql.snapshot import TableCount, compare_counts, count_tables
from dbseal.engines.postgresql.url import PGTarget
from dbseal.errors import CheckNotRun, DataMismatch, RestoreFailed, SandboxError, UsageError
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.restore import apply_backup, authenticate_backup

RestoreOutcome = tuple[float, list[str], list[dict[str, Any]]]


def is_postgresql(manifest: Mapping[str, Any]) -> bool:
    return (manifest.get("source") or {}).get("engine") == "postgresql"


def encodings_of(manifest: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    found = (manifest.get("contents") or {}).get("encodings") or {}
    return {str(k): dict(v) for k, v in found.items() if isinstance(v, Mapping)}


def target_names(
    manifest: Mapping[str, Any],
    only: Sequence[str] | None,
    rename: Mapping[str, str],
    url_database: str | None,
) -> dict[str, str]:
    """Backed-up database -> target name (``--database``, ``--rename-db``, or the URL's DB)."""
    dbs = [str(d) for d in manifest.get("databases") or []]
    unknown = sorted((set(rename) | set(only or ())) - set(dbs))
    if unknown:
        raise UsageError(
            f"backup {manifest.get('id')} has no database {', '.join(unknown)}; nothing was restored",
            hint=f"the backup holds: {', '.join(dbs) or 'no databases'}",
        )
    chosen = [d for d in dbs if only is None or d in only]
    names = {d: rename.get(d, d) for d in chosen}
    if url_database is not None:
        if len(chosen) != 1:
            raise UsageError(
                "the --target URL names a database, and the restore would write several",
                hint="pick one with --database NAME, or drop the database from the URL "
                "(--rename-db OLD=NEW renames)",
            )
        names = {chosen[0]: url_database}
    return names


def restore_pg(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    plan: PgRestorePlan,
    reporter: Reporter | None = None,
    verify_first: bool = True,
    allow_failed: bool = False,
) -> dict[str, Any]:
    reporter = reporter or NullReporter()
    manifest = repo.manifest(bid)
    if manifest.get("status") == "failed" and not allow_failed:
        raise UsageError(
            f"backup {bid} is recorded as failed; nothing was restored",
            hint="restore a good backup, or pass --allow-failed",
        )
    check_targets(plan)
    t0 = time.monotonic()
    if verify_first:
        authenticate_backup(repo, bid, identities, reporter)
    auth_s = round(time.monotonic() - t0, 3)
    full, empty = check_targets(plan)
    t1 = time.monotonic()
    sink = PgRestoreSink(plan)
    total = apply_backup(repo, bid, identities, sink, None, reporter, manifest)
    result = sink.last_result
    return {
        "id": bid,
        "bytes": total,
        "authenticate_s": auth_s,
        "apply_s": round(time.monotonic() - t1, 3),
        "created": [n for n in plan.names.values() if n not in full and n not in empty],
        "replaced": full,
        "existing_empty": empty,
        "roles_created": result.get("roles_created", []),
        "messages": result.get("messages", []),
        "jobs": plan.jobs,
    }


def _counts(target: PGTarget, password: Secret, names: Mapping[str, str]) -> list[TableCount]:
    out = []
    for db, new in names.items():
        with Session(target, password, new) as s:
            out += [TableCount(db, c.schema, c.table, c.rows) for c in count_tables(s, db)]
    return out


def throwaway_check(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    manifest: dict[str, Any],
    reporter: Reporter,
) -> RestoreOutcome:
    from dbseal.engines.postgresql.sandbox import PostgresSandbox

    if (manifest.get("source") or {}).get("kind") == "postgresql-physical":
        from dbseal.engines.postgresql.physical_verify import physical_check

        return physical_check(repo, bid, identities, manifest, reporter)
    dbs = [str(d) for d in manifest.get("databases") or []]
    if not dbs:
        raise CheckNotRun(f"backup {bid}'s manifest lists no databases to compare")
    try:
        server = PostgresSandbox().start()
    except SandboxError as exc:
        raise CheckNotRun(
            f"the throwaway PostgreSQL server could not be started: {exc.message}", hint=exc.hint
        ) from None
    try:
        target, password = server.target(), server.password
        plan = PgRestorePlan(
            target,
            password,
            {d: d for d in dbs},
            jobs=2,
            accounts=True,
            encodings=encodings_of(manifest),
        )
        reporter.event(
            "restore.phase",
            label=f"restore test {bid}",
            expected_bytes=manifest.get("sizes", {}).get("raw"),
        )
        t0 = time.monotonic()
        try:
            apply_backup(repo, bid, identities, PgRestoreSink(plan), None, reporter, manifest)
        except RestoreFailed as exc:
            raise DataMismatch(f"backup {bid} does not restore: {exc.message}") from None
        restore_s = round(time.monotonic() - t0, 3)
        expected = [TableCount(**t) for t in manifest.get("tables") or []]
        found = _counts(target, password, plan.names)
    finally:
        server.stop()
    problems = compare_counts(expected, found)
    have = {(c.database, c.schema, c.table): c.rows for c in found}
    tables = [
        {
            "database": c.database,
            "table": f"{c.schema}.{c.table}",
            "expected_rows": c.rows,
            "found_rows": have.get((c.database, c.schema, c.table)),
            "expected_checksum": None,
            "found_checksum": None,
            "ok": have.get((c.database, c.schema, c.table)) == c.rows,
        }
        for c in expected
    ]
    return restore_s, problems, tables


__all__ = ["encodings_of", "is_postgresql", "restore_pg", "target_names", "throwaway_check"]
