"""--json on every command: the result is exactly one JSON document on standard output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cli.clikit import KeyPair, Result, Runner, private_file
from dbseal.cli.main import build_parser


def _doc(res: Result) -> dict[str, Any]:
    assert res.rc == 0, res.stderr
    doc = json.loads(res.stdout)  # one document, nothing else on stdout
    assert isinstance(doc, dict)
    return doc


def _leaves(parser: argparse.ArgumentParser, name: str = "") -> list[tuple[str, Any]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(name, parser)]
    return [
        leaf
        for action in subs
        for cmd, child in action.choices.items()
        for leaf in _leaves(child, f"{name} {cmd}".strip())
    ]


def test_every_command_takes_json() -> None:
    missing = [n for n, p in _leaves(build_parser()) if "--json" not in p._option_string_actions]
    assert missing == []


def test_keyring_commands_answer_in_json(dbseal: Runner, tmp_path: Path) -> None:
    pw = private_file(tmp_path / "ring.pw", "correct horse battery\n")
    ring = ("--keyring", "ring", "--keyring-passphrase-file", pw)
    doc = _doc(dbseal("keys", "init", *ring, "--key", "backup", "--json"))
    assert doc["key"] == "backup:1" and len(doc["keyring_id"]) == 32
    doc = _doc(dbseal("keys", "rotate", "backup", *ring, "--json"))
    assert doc == {"key": "backup", "version": 2, "created": True}
    doc = _doc(dbseal("keys", "export", "--paper", *ring, "-o", "paper.txt", "--json"))
    assert doc["output"] == "paper.txt" and doc["bytes"] == (tmp_path / "paper.txt").stat().st_size
    res = dbseal(
        "keys", "export", "--paper", *ring, "--json"
    )  # the paper copy itself would be stdout
    assert res.rc == 2 and json.loads(res.stdout)["error"]["class"] == "UsageError"


def test_keygen_seal_unseal_answer_in_json(dbseal: Runner, tmp_path: Path) -> None:
    doc = _doc(dbseal("keygen", "-o", "id.key", "--json"))
    assert doc["recipient"].startswith("age1") and doc["identity_file"] == "id.key"
    (tmp_path / "plain.txt").write_bytes(b"x" * 1000)
    doc = _doc(dbseal("seal", "-r", doc["recipient"], "-o", "s.dbseal", "plain.txt", "--json"))
    assert doc["bytes"] == (tmp_path / "s.dbseal").stat().st_size
    doc = _doc(dbseal("unseal", "-i", "id.key", "-o", "back.txt", "s.dbseal", "--json"))
    assert doc == {"output": "back.txt", "bytes": 1000}
    res = dbseal("unseal", "-i", "id.key", "s.dbseal", "--json")  # plaintext would be stdout
    assert res.rc == 2 and b"xxxxxxxx" not in res.stdout


def test_tls_commands_answer_in_json(dbseal: Runner, tmp_path: Path) -> None:
    doc = _doc(dbseal("tls", "init", "--dir", "ca", "--json"))
    assert doc["cert"].endswith("ca-cert.pem") and doc["not_after"]
    doc = _doc(dbseal("tls", "issue", "--dir", "ca", "--client", "db1", "--json"))
    assert doc["role"] == "client" and doc["name"] == "db1" and (tmp_path / doc["cert"]).exists()


def test_rewrap_answers_in_json(dbseal: Runner, keypair: KeyPair, tmp_path: Path) -> None:
    assert dbseal("init", "repo", "-r", keypair.recipient).rc == 0
    doc = _doc(dbseal("rewrap", "--repo", "repo", "--all", "--to", keypair.recipient, "--json"))
    assert doc["backups"] == [] and doc["failed"] == 0
