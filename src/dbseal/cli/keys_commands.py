"""`dbseal keys rotate/status/retire/passwd/destroy/export/import`, `rewrap`, `reencrypt`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dbseal.catalog.source_names import source_name
from dbseal.cli.config import apply_config
from dbseal.cli.keyargs import KEYRING_PASSPHRASE_ENV, identities_from_args, open_keyring
from dbseal.cli.output import emit
from dbseal.cli.repo_commands import open_repo
from dbseal.cli.secrets_args import secret_source
from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring, KeyringRecipient, parse_key_ref
from dbseal.crypto.passphrase import PassphraseRecipient
from dbseal.crypto.recipients import Recipient
from dbseal.crypto.x25519 import X25519Recipient
from dbseal.errors import DbsealError, UsageError
from dbseal.fsutil import atomic_write
from dbseal.ops import keys as kops
from dbseal.ops.rewrap import Spec, parse_spec, reencrypt_backup, rewrap_backup


def _ring_passphrase(args: argparse.Namespace) -> Any:
    return secret_source(args, "keyring-passphrase", KEYRING_PASSPHRASE_ENV).get(
        "keyring passphrase"
    )


def _maybe_repo(args: argparse.Namespace) -> Any:
    apply_config(args, None)
    return open_repo(args.repo, args) if args.repo else None


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    kv = kops.rotate(args.keyring, args.name, _ring_passphrase(args))
    emit(
        args,
        {"key": args.name, "version": kv.version, "created": True},
        f"key {args.name}:{kv.version} created; new backups use it, older versions still open "
        f"older backups\nre-wrap existing backups: dbseal rewrap --repo REPO --all --to "
        f"keyring:{args.name} --remove keyring:{args.name}:{kv.version - 1}",
    )
    return 0


def cmd_keys_status(args: argparse.Namespace) -> int:
    repo = _maybe_repo(args)
    ring = open_keyring(args)
    max_age = repo.config.policy.max_key_age_days if repo is not None else args.max_age_days
    rows = kops.key_status(ring, repo, max_age)
    if args.json:
        print(
            json.dumps(
                {
                    "keyring_id": ring.keyring_id.hex(),
                    "repository": repo.backend.location if repo else None,
                    "keys": rows,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"keyring {ring.keyring_id.hex()} ({args.keyring})"
        + (f", backups in {repo.backend.location}" if repo else "")
    )
    for r in rows:
        backups = "" if r["backups"] is None else f"  {r['backups']} backups"
        current = "  (new backups)" if r["in_use_for_new_backups"] else ""
        print(
            f"  {r['key']}:{r['version']}  {r['state']:9}  {r['age_days']:6.1f} days old{backups}{current}"
        )
        for w in r["warnings"]:
            print(f"      warning: {w}")
    return 0


def cmd_keys_retire(args: argparse.Namespace) -> int:
    name, version = parse_key_ref(args.ref)
    if version is None:
        raise UsageError("retire names one version", hint="write NAME:VERSION, e.g. backup:1")
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    kops.retire(args.keyring, name, version, repo, _ring_passphrase(args))
    emit(
        args,
        {"key": name, "version": version, "state": "retired", "repository": repo.backend.location},
        f"key {name}:{version} retired: its key material is erased; no backup in "
        f"{repo.backend.location} needed it",
    )
    return 0


def cmd_keys_passwd(args: argparse.Namespace) -> int:
    old = _ring_passphrase(args)
    Keyring.open(args.keyring, old)  # a wrong passphrase fails before the new one is asked for
    new = secret_source(args, "new-passphrase").get("new keyring passphrase", confirm=True)
    ring = kops.change_passphrase(args.keyring, old, new)
    emit(
        args,
        {"keyring_id": ring.keyring_id.hex(), "resealed": True},
        f"keyring {ring.keyring_id.hex()} re-sealed under the new passphrase (the keys "
        "themselves are unchanged)",
    )
    return 0


def cmd_keys_destroy(args: argparse.Namespace) -> int:
    name, version = parse_key_ref(args.ref)
    repo = _maybe_repo(args)
    passphrase = _ring_passphrase(args)
    ring = Keyring.open(args.keyring, passphrase)
    versions, affected = kops.destroy_plan(ring, name, version, repo)
    names = ", ".join(f"{name}:{v.version}" for v in versions)
    where = repo.backend.location if repo else "(no --repo given: backups were not checked)"
    plan = sys.stderr if args.json else sys.stdout  # stdout carries only the JSON document
    print(
        f"destroying {names} makes {len(affected)} backup(s) in {where} unrecoverable through this keyring:",
        file=plan,
    )
    for bid in affected:
        print(f"  {bid}", file=plan)
    if not args.yes_destroy:
        raise UsageError(
            "nothing was destroyed",
            hint="re-run with --yes-destroy-key-material after reading the list above",
        )
    kops.destroy(args.keyring, name, [v.version for v in versions], repo, passphrase)
    emit(
        args,
        {
            "key": name,
            "destroyed_versions": [v.version for v in versions],
            "unrecoverable_through_keyring": list(affected),
        },
        f"destroyed {names}: the key material is gone; backups that no other recipient opens "
        "are unrecoverable",
    )
    return 0


def cmd_keys_export(args: argparse.Namespace) -> int:
    text = kops.paper_export(args.keyring, _ring_passphrase(args))
    if args.output:
        atomic_write(args.output, text.encode(), mode=0o600)
        emit(
            args,
            {"output": args.output, "bytes": len(text.encode())},
            f"paper copy written to {args.output} (0600); print it, store it in a safe, delete "
            "the file",
        )
    else:
        if args.json:
            raise UsageError("--json needs -o FILE", hint="the paper copy itself is the output")
        if sys.stdout.isatty():
            print("warning: this page opens every backup sealed for these keys", file=sys.stderr)
        sys.stdout.write(text)
    return 0


def cmd_keys_import(args: argparse.Namespace) -> int:
    try:
        with open(args.paper, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read {args.paper!r}: {exc.strerror}") from None
    passphrase = secret_source(args, "keyring-passphrase", KEYRING_PASSPHRASE_ENV).get(
        "new keyring passphrase", confirm=True
    )
    ring = kops.paper_import(text, args.keyring, passphrase)
    emit(
        args,
        {"keyring_id": ring.keyring_id.hex(), "keyring": args.keyring},
        f"keyring {ring.keyring_id.hex()} restored into {args.keyring}",
    )
    return 0


# --- rewrap / reencrypt ------------------------------------------------------------
def _recipient(spec: Spec, text: str, args: argparse.Namespace, ring: Keyring | None) -> Recipient:
    if spec.kind == "x25519":
        return X25519Recipient.parse(spec.value)
    if spec.kind == "keyring":
        if ring is None:
            raise UsageError("keyring: recipients need --keyring DIR")
        return KeyringRecipient(ring, spec.value, spec.version)
    if spec.kind == "passphrase":
        return PassphraseRecipient(
            secret_source(args, "new-passphrase").get("new passphrase", confirm=True)
        )
    if spec.kind == "awskms":
        from dbseal.cli.keyargs import parse_recipient

        return parse_recipient(text)
    raise UsageError(f"cannot seal for {text!r}")


def _targets(repo: Any, args: argparse.Namespace) -> list[str]:
    if args.all and args.source_name is not None:
        return [str(m["id"]) for m in repo.manifests() if source_name(m) == args.source_name]
    if args.all:
        return repo.backup_ids()  # type: ignore[no-any-return]
    if not args.backups:
        raise UsageError("name backups or pass --all")
    return [repo.resolve(b, args.source_name) for b in args.backups]


def cmd_rewrap(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    ring = open_keyring(args) if args.keyring else None
    identities = identities_from_args(args)
    add = []
    for text in args.to or []:
        spec = parse_spec(text)
        recipient = _recipient(spec, text, args, ring)
        if spec.kind == "keyring" and isinstance(recipient, KeyringRecipient):
            spec = Spec("keyring", spec.value, recipient.key.version)
        add.append((spec, recipient))
    remove = [parse_spec(t) for t in args.remove or []]
    if not add and not remove:
        raise UsageError("nothing to do", hint="give --to RECIPIENT and/or --remove RECIPIENT")
    ring_id = ring.keyring_id if ring else None
    counts = {"rewrapped": 0, "unchanged": 0, "failed": 0}
    rows: list[dict[str, Any]] = []
    first_code = 0
    for bid in _targets(repo, args):
        try:
            outcome = rewrap_backup(repo, bid, identities, add, remove, ring_id)
        except DbsealError as exc:
            counts["failed"] += 1
            first_code = first_code or exc.exit_code
            print(f"{bid}: FAILED: {exc.message}", file=sys.stderr)
            rows.append({"id": bid, "outcome": "failed", "exit_code": exc.exit_code})
            continue
        counts[outcome] += 1
        rows.append({"id": bid, "outcome": outcome})
        if not args.quiet and not args.json:
            print(f"{bid}: {outcome}")
    emit(
        args,
        {"backups": rows, **counts},
        f"{counts['rewrapped']} rewrapped, {counts['unchanged']} already as wanted, "
        f"{counts['failed']} failed (data objects untouched)",
    )
    return first_code


def cmd_reencrypt(args: argparse.Namespace) -> int:
    from dbseal.cli.backup_commands import repo_recipients

    apply_config(args, None)
    repo = open_repo(args.repo, args)
    identities = identities_from_args(args)
    recipients = repo_recipients(repo, args, "backups")
    codec = parse_codec(args.compress) if args.compress else None
    done = []
    for bid in _targets(repo, args):
        new_bid = reencrypt_backup(repo, bid, identities, recipients, codec)
        done.append({"id": bid, "new_id": new_bid, "old_shredded": True})
        if not args.json:
            print(
                f"{bid}: re-encrypted under a new data key as {new_bid}; the old backup was shredded"
            )
    if args.json:
        print(json.dumps({"backups": done}))
    return 0
