"""AWS KMS recipient strings and stanzas, without a KMS (tests/integration/test_kms.py has one)."""

from __future__ import annotations

import pytest

from dbseal.cli.keyargs import parse_recipient
from dbseal.crypto.kms import (
    MAX_BLOB_LEN,
    STANZA_TYPE,
    AwsKmsIdentity,
    AwsKmsRecipient,
    KmsSettings,
    arn_region,
    encryption_context,
)
from dbseal.crypto.recipients import describe_stanza
from dbseal.crypto.x25519 import X25519Recipient
from dbseal.errors import InvalidKeySpec
from dbseal.format.stanza import Stanza

ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_alias_with_region() -> None:
    r = AwsKmsRecipient.parse("awskms:alias/dbseal-backups?region=eu-west-1")
    assert r.key == "alias/dbseal-backups"
    assert r.settings == KmsSettings(region="eu-west-1")
    assert r.describe() == "awskms:alias/dbseal-backups?region=eu-west-1"


def test_an_arn_names_its_region() -> None:
    r = AwsKmsRecipient.parse(f"awskms:{ARN}")
    assert r.key == ARN and r.settings.region == "eu-west-1"
    assert arn_region("arn:aws-cn:kms:cn-north-1:1:alias/x") == "cn-north-1"
    assert arn_region("1234abcd-12ab-34cd-56ef-1234567890ab") is None


def test_canonical_string_round_trips() -> None:
    text = "awskms:mrk-1234?region=us-east-1&endpoint=http://127.0.0.1:4566&profile=backup"
    r = AwsKmsRecipient.parse(text)
    assert r.settings == KmsSettings("us-east-1", "http://127.0.0.1:4566", "backup")
    assert r.encode() == text
    assert AwsKmsRecipient.parse(r.encode()).settings == r.settings


def test_parse_recipient_dispatches_on_the_prefix() -> None:
    assert isinstance(parse_recipient("awskms:alias/x?region=us-east-1"), AwsKmsRecipient)
    age = X25519Recipient(bytes(range(32))).encode()
    assert isinstance(parse_recipient(age), X25519Recipient)


@pytest.mark.parametrize(
    "param",
    ["access_key", "aws_access_key_id", "secret", "secret_access_key", "session_token", "password"],
)
def test_credentials_are_refused_and_never_echoed(param: str) -> None:
    with pytest.raises(InvalidKeySpec) as err:
        AwsKmsRecipient.parse(f"awskms:alias/x?region=us-east-1&{param}=hunter2SECRET")
    assert "credential" in err.value.message
    assert "hunter2SECRET" not in err.value.one_line()


def test_credentials_in_the_endpoint_url_are_refused() -> None:
    with pytest.raises(InvalidKeySpec) as err:
        AwsKmsRecipient.parse("awskms:alias/x?endpoint=https://AKIA:hunter2@kms.example.com")
    assert "credentials" in err.value.message
    assert "hunter2" not in err.value.one_line()


@pytest.mark.parametrize(
    "text",
    [
        "awskms:",
        "awskms:?region=us-east-1",
        "awskms:alias/has space",
        "awskms:alias/x?region",
        "awskms:alias/x?color=blue",
        "awskms:alias/x?region=us-east-1&region=eu-west-1",
        "awskms:alias/x?region=",
        "awskms:alias/x?region=EU_WEST",
        "awskms:alias/x?profile=a%20b",
        "awskms:alias/x?endpoint=ftp://127.0.0.1",
        "awskms:alias/x?endpoint=kms.example.com",
        "age1notkms",
    ],
)
def test_invalid_strings(text: str) -> None:
    with pytest.raises(InvalidKeySpec):
        AwsKmsRecipient.parse(text)


def test_plain_http_only_to_loopback() -> None:
    for ok in ("http://127.0.0.1:1", "http://localhost:4566", "http://[::1]:80", "https://kms.x"):
        AwsKmsRecipient.parse(f"awskms:k?endpoint={ok}")
    with pytest.raises(InvalidKeySpec) as err:
        AwsKmsRecipient.parse("awskms:k?endpoint=http://kms.internal:4566")
    assert "in clear" in err.value.message


def test_encryption_context_binds_format_and_file() -> None:
    fid = bytes(range(16))
    assert encryption_context(fid) == {
        "dbseal:format": "dbseal/v1",
        "dbseal:file_id": "000102030405060708090a0b0c0d0e0f",
    }


def test_describe_stanza_shows_the_key_and_arn() -> None:
    s = Stanza(STANZA_TYPE, (b"alias/db", ARN.encode()), b"\x01" * 184)
    assert describe_stanza(s) == {
        "type": "awskms",
        "key": "alias/db",
        "key_arn": ARN,
        "region": "eu-west-1",
    }
    assert describe_stanza(Stanza(STANZA_TYPE, (b"x",), b"\x01")) == {
        "type": "awskms",
        "malformed": True,
    }


@pytest.mark.parametrize(
    "stanza",
    [
        Stanza(STANZA_TYPE, (b"k",), b"\x01" * 100),
        Stanza(STANZA_TYPE, (b"k", ARN.encode(), b"extra"), b"\x01" * 100),
        Stanza(STANZA_TYPE, (b"", ARN.encode()), b"\x01" * 100),
        Stanza(STANZA_TYPE, (b"k", ARN.encode()), b""),
        Stanza(STANZA_TYPE, (b"k", ARN.encode()), b"\x01" * (MAX_BLOB_LEN + 1)),
        Stanza(STANZA_TYPE, (b"k", b"\xff\xfe"), b"\x01" * 100),
        Stanza(STANZA_TYPE, (b"k", b"arn:aws:kms:\x1b[2J:1:key/x"), b"\x01" * 100),
        Stanza("x25519", (bytes(32), bytes(32)), bytes(48)),
    ],
)
def test_malformed_or_foreign_stanzas_are_skipped_without_asking_kms(stanza: Stanza) -> None:
    # Were KMS asked, the closed port would leave an operational failure behind.
    ident = AwsKmsIdentity(KmsSettings(region="eu-west-1", endpoint="http://127.0.0.1:9"))
    assert ident.unwrap([stanza], bytes(16)) is None
    assert ident.failure is None
