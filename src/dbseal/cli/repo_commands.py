"""`dbseal init`, `list` and `show`: repository-level commands."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.contents import contents_lines
from dbseal.catalog.repository import Policy, RepoConfig, Repository, log_handle
from dbseal.catalog.source_names import source_name
from dbseal.cli.chain_view import chain_fields, list_suffix, show_lines
from dbseal.cli.config import apply_config
from dbseal.cli.durations import parse_duration
from dbseal.cli.keyargs import identities_from_args, open_keyring, parse_recipient
from dbseal.cli.repoopen import open_repo, tls_files
from dbseal.cli.secrets_args import secret_source
from dbseal.codecs import parse_codec
from dbseal.crypto.x25519 import X25519Recipient, parse_recipients_file
from dbseal.errors import DbsealError, UsageError
from dbseal.monitoring.sizes import human_size
from dbseal.ops.restore import unlock_backup
from dbseal.ops.seal import open_sealed_with_key
from dbseal.ops.verify import history, last_verification
from dbseal.storage import open_backend


def _parse_policy(items: list[str] | None) -> Policy:
    policy = Policy()
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not hasattr(policy, key):
            raise UsageError(
                f"invalid --policy {item!r}",
                hint="use KEY=VALUE with a key from `dbseal init --help`",
            )
        current = getattr(policy, key)
        if isinstance(current, bool):
            setattr(policy, key, value.lower() in ("1", "true", "yes", "on"))
        elif isinstance(current, int):
            setattr(policy, key, int(value))
        else:
            setattr(policy, key, value)
    try:
        policy.check()
    except DbsealError as exc:
        raise UsageError(exc.message) from None
    return policy


def _canonical(text: str) -> str:
    """A recipient as stored in config.json: age1 keys normalised, awskms specs as given."""
    recipient = parse_recipient(text)
    return recipient.encode() if isinstance(recipient, X25519Recipient) else text.strip()


def cmd_init(args: argparse.Namespace) -> int:
    recipients = [_canonical(r) for r in args.recipient or []]
    for path in args.recipients_file or []:
        with open(path, encoding="utf-8") as fh:
            recipients += [r.encode() for r in parse_recipients_file(fh.read(), path)]
    keyring = None
    if args.keyring or args.key:
        if not (args.keyring and args.key):
            raise UsageError("--keyring and --key go together")
        ring = open_keyring(args)
        ring.get(args.key)  # the key must exist
        keyring = {"id": ring.keyring_id.hex(), "key": args.key}
    parse_codec(args.compress)
    config = RepoConfig(
        repository_id=__import__("os").urandom(16).hex(),
        created=datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        codec=args.compress,
        recipients=recipients,
        keyring=keyring,
        passphrase=args.require_passphrase,
        policy=_parse_policy(args.policy),
    )
    if config.policy.require_encryption and not (recipients or keyring or config.passphrase):
        raise UsageError(
            "a repository needs at least one default recipient (require_encryption is on)",
            hint="pass -r age1..., -R FILE, --keyring DIR --key NAME, or --require-passphrase",
        )
    repo = Repository.create(open_backend(args.repo, tls_files(args)), config)
    if args.json:
        print(
            json.dumps({"repository_id": config.repository_id, "location": repo.backend.location})
        )
    else:
        print(f"created repository {config.repository_id} at {repo.backend.location}")
    return 0


def _row(m: dict[str, Any]) -> dict[str, Any]:
    sizes = m.get("sizes", {})
    return {
        "id": m.get("id"),
        "name": m.get("name"),
        "source_name": source_name(m),
        "status": m.get("status"),
        "started": m.get("started"),
        "duration_s": m.get("duration_s"),
        "databases": m.get("databases", []),
        "raw_bytes": sizes.get("raw"),
        "stored_bytes": sizes.get("stored"),
        "verification": None,
    }


def _verified(v: dict[str, Any] | None) -> str:
    if not v:
        return "never"
    when = str(v.get("started") or "")[:16].replace("T", " ")
    return f"{v.get('level')} {v.get('result')} {when}"


def _listed(repo: Repository, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The rows of `list`, filtered by --source and --database."""
    every = repo.manifests()
    lookup = {str(m.get("id")): m for m in every}
    rows = [{**_row(m), **chain_fields(lookup, m)} for m in every]
    if args.source_name is not None:
        rows = [r for r in rows if r["source_name"] == args.source_name]
    if args.database is not None:
        rows = [r for r in rows if args.database in (r["databases"] or [])]
    for r in rows:
        last = last_verification(repo, str(r["id"]))
        if last:
            r["verification"] = {
                k: last.get(k) for k in ("level", "result", "started", "restore_s")
            }
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    rows = _listed(repo, args)
    by_source = repo.latest_by_source()
    if args.source_name is not None:
        by_source = {k: v for k, v in by_source.items() if k == args.source_name}
    latest = next(iter(by_source.values())) if len(by_source) == 1 else None
    if args.json:
        doc = {
            "repository": repo.backend.location,
            "latest": latest,  # null when `latest` is ambiguous: see latest_by_source
            "latest_by_source": by_source,
            "backups": rows,
        }
        print(json.dumps(doc, indent=2))
        return 0
    if not rows:
        filtered = args.source_name is not None or args.database is not None
        print(f"no backups in {repo.backend.location}" + (" match" if filtered else ""))
        return 0
    marks = set(by_source.values())
    width = max(6, *(len(str(r["source_name"])) for r in rows))
    print(
        f"{'ID':27} {'SOURCE':{width}} {'STATUS':9} {'STARTED':20} {'TIME':>7} {'RAW':>10} "
        f"{'STORED':>10}  {'LAST VERIFIED':28} DATABASES"
    )
    for r in rows:
        mark = " *" if r["id"] in marks else ""
        started = str(r["started"] or "")[:19].replace("T", " ")
        dur = f"{r['duration_s']:.1f}s" if isinstance(r["duration_s"], int | float) else "-"
        print(
            f"{r['id']:27} {r['source_name']:{width}} {r['status']:9} {started:20} {dur:>7} "
            f"{human_size(r['raw_bytes']):>10} {human_size(r['stored_bytes']):>10}  "
            f"{_verified(r['verification']):28} {','.join(r['databases'] or [])}{mark}"
            f"{list_suffix(r)}"
        )
    print("* = latest good backup" + (" of its source (NAME:latest)" if len(marks) > 1 else ""))
    return 0


def _open_log(
    repo: Repository, bid: str, args: argparse.Namespace, manifest: dict[str, Any]
) -> dict[str, Any]:
    import io

    identities = identities_from_args(args)
    raw = repo.backend.get(log_handle(bid))
    opened = open_sealed_with_key(io.BytesIO(raw), identities)
    log = json.loads(b"".join(opened.plaintext))
    return dict(log)


def cmd_show(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    bid = repo.resolve(args.backup, args.source_name)
    m = repo.manifest(bid)
    keyed = bool(args.identity or args.keyring or secret_source(args, "passphrase").is_given())
    keyed = keyed or any(k.get("type") == "awskms" for k in m.get("keys", []))
    log = None
    if keyed:
        unlock_backup(repo, bid, identities_from_args(args))
        log = _open_log(repo, bid, args, m)
    verifications = history(repo, bid)
    last = verifications[-1] if verifications else None
    chain = chain_fields({str(x.get("id")): x for x in repo.manifests()}, m)
    if args.json:
        print(
            json.dumps(
                {"manifest": m, "log": log, "verifications": verifications, "chain": chain},
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    sizes = m.get("sizes", {})
    lines = [
        f"backup       {m['id']}" + (f" ({m['name']})" if m.get("name") else ""),
        f"status       {m.get('status')}"
        + (f": {'; '.join(m.get('reasons', []))}" if m.get("reasons") else ""),
        f"time         {m.get('started')} .. {m.get('ended')} ({m.get('duration_s')} s)",
        f"source       {source_name(m)} {json.dumps(m.get('source', {}), sort_keys=True)}",
        f"server       {m.get('server_version', '-')}; dump tool {m.get('client_version', '-')}",
        f"tls          {json.dumps(m.get('tls'))}",
        f"sizes        raw {human_size(sizes.get('raw'))}, compressed {human_size(sizes.get('compressed'))}, stored {human_size(sizes.get('stored'))} ({m.get('codec')})",
        f"keys         {json.dumps(m.get('keys', []))}",
        f"sha256       {m.get('data_sha256')}",
        f"messages     {json.dumps(m.get('messages', {}))}",
        *contents_lines(m),
        *show_lines(chain, m),
        f"authentic    {'not checked (give a key to check)' if not keyed else 'yes (manifest MAC verified)'}",
        f"verified     {_verified(last)}"
        + (f" (restore took {last.get('restore_s')} s)" if last and last.get("restore_s") else ""),
    ]
    for t in m.get("tables", []) or []:
        lines.append(
            f"  table {t.get('database')}.{t.get('table')}: {t.get('rows')} rows, checksum {t.get('checksum')}"
        )
    if log is not None:
        lines.append("dump tool stderr:")
        lines += ["  " + ln for ln in (log.get("stderr") or "(empty)").splitlines()]
    print("\n".join(lines))
    return 0


__all__ = ["cmd_init", "cmd_list", "cmd_show", "mf", "open_repo", "tls_files"]


def _kept_line(k: dict[str, Any]) -> str:
    when = str(k["removable_at"]).replace("T", " ").replace("Z", " UTC")
    latest = " at the latest" if k.get("at_the_latest") else ""
    return f"  {k['object']}: {k['reason']}; removable after {when}{latest}"


def cmd_repo_check(args: argparse.Namespace) -> int:
    from dbseal.catalog.check import age_text, check_repository
    from dbseal.errors import RepositoryNeedsAttention

    apply_config(args, None)
    repo = open_repo(args.repo, args)
    min_age = parse_duration(args.min_age).total_seconds()
    report = check_repository(repo, min_age, args.clean)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for title, items in (
            ("incomplete writes", report.leftovers),
            (f"orphaned objects (no manifest, older than {age_text(min_age)})", report.orphans),
            ("backups with missing objects", report.missing),
        ):
            if items:
                print(f"{title}:")
                print("\n".join(f"  {i}" for i in items))
        if args.clean:
            print(f"removed {report.cleaned} leftover(s) and orphan(s)")
        if report.kept:
            print("kept (not removed by --clean):")
            print("\n".join(_kept_line(k) for k in report.kept))
        if report.clean:
            print(f"repository {repo.backend.location}: nothing left behind, every backup complete")
    return RepositoryNeedsAttention.exit_code if report.needs_attention else 0
