"""Turn key-related options into Recipients and Identities."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dbseal.cli.secrets_args import secret_source
from dbseal.crypto import secret as secrets
from dbseal.crypto.keyring import Keyring, KeyringIdentity, KeyringRecipient, parse_key_ref
from dbseal.crypto.kms import AwsKmsIdentity, AwsKmsRecipient, is_kms_spec
from dbseal.crypto.passphrase import STANZA_TYPE as ARGON2_STANZA
from dbseal.crypto.passphrase import PassphraseIdentity, PassphraseRecipient
from dbseal.crypto.recipients import Identity, Recipient
from dbseal.crypto.x25519 import (
    X25519Recipient,
    parse_identity_file,
    parse_recipients_file,
)
from dbseal.errors import InputError, UsageError
from dbseal.format.stanza import Stanza

PASSPHRASE_ENV = "DBSEAL_PASSPHRASE_FILE"
KEYRING_PASSPHRASE_ENV = "DBSEAL_KEYRING_PASSPHRASE_FILE"


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path!r} is not text") from None


def open_keyring(args: argparse.Namespace) -> Keyring:
    src = secret_source(args, "keyring-passphrase", KEYRING_PASSPHRASE_ENV)
    return Keyring.open(args.keyring, src.get("keyring passphrase"))


def parse_recipient(text: str) -> Recipient:
    """One recipient string (-r, config.json): ``age1...`` or ``awskms:...`` (no KMS call)."""
    if is_kms_spec(text):
        return AwsKmsRecipient.parse(text)
    return X25519Recipient.parse(text)


def recipients_from_args(args: argparse.Namespace) -> list[Recipient]:
    out: list[Recipient] = [parse_recipient(r) for r in args.recipient or []]
    for path in args.recipients_file or []:
        out.extend(parse_recipients_file(_read_text(path, "recipients file"), path))
    if args.keyring or args.key:
        if not (args.keyring and args.key):
            raise UsageError("--keyring and --key go together when sealing")
        name, version = parse_key_ref(args.key)
        out.append(KeyringRecipient(open_keyring(args), name, version))
    src = secret_source(args, "passphrase", None)
    if src.is_given():
        out.append(PassphraseRecipient(src.get("passphrase", confirm=True)))
    return out


class _LazyPromptIdentity:
    """Asks for a passphrase only when the file has a passphrase stanza."""

    def __init__(self, source: secrets.SecretSource) -> None:
        self._source = source

    def describe(self) -> str:
        return "passphrase"

    def unwrap(self, stanzas: Sequence[Stanza], file_id: bytes) -> bytes | None:
        if not any(s.type == ARGON2_STANZA for s in stanzas):
            return None
        return PassphraseIdentity(self._source.get("passphrase")).unwrap(stanzas, file_id)


def identities_from_args(args: argparse.Namespace) -> list[Identity]:
    out: list[Identity] = []
    for path in args.identity or []:
        secrets.check_private_file(path, "identity file")
        out.extend(parse_identity_file(_read_text(path, "identity file"), path))
    if args.keyring:
        out.append(KeyringIdentity(open_keyring(args)))
    src = secret_source(args, "passphrase", PASSPHRASE_ENV)
    prompt = src.is_given() or not out
    # AWS KMS is always an identity, tried after -i/--keyring (so an escrow key opens a
    # file without any KMS call) and before a passphrase prompt; it calls KMS only for
    # awskms stanzas, with the AWS default chain (AWS_PROFILE, AWS_ENDPOINT_URL_KMS, ...).
    out.append(AwsKmsIdentity())
    if prompt:
        out.append(_LazyPromptIdentity(src))
    return out
