"""AWS KMS recipients against a real KMS HTTP API: moto's server, started on loopback.

Fake credentials live only in this test's environment (and the `dbseal` processes it
starts); the developer's ~/.aws is never read.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from cli.clikit import Result, private_file, run_dbseal
from dbseal.catalog.repository import RepoConfig, Repository
from dbseal.codecs import parse_codec
from dbseal.crypto import kms as kms_mod
from dbseal.crypto.kms import ESCROW_HINT, AwsKmsIdentity, AwsKmsRecipient, KmsSettings
from dbseal.crypto.recipients import Identity, Recipient
from dbseal.crypto.x25519 import X25519Identity
from dbseal.errors import KmsError, NoMatchingKey
from dbseal.format.header import Header, read_header
from dbseal.ops.seal import open_sealed, seal_stream
from dbseal.ops.secrets import load_secret
from dbseal.storage import open_backend

DATA = b"-- MariaDB dump\nINSERT INTO t VALUES (1, 'kms');\n" * 500


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and a region for this test (and the processes it starts) only."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def kms(moto_server: Any, aws_env: None) -> Any:
    """A boto3 client to manage keys in the moto server (create, disable, delete)."""
    import boto3

    return boto3.client("kms", endpoint_url=moto_server.url, region_name="us-east-1")


@pytest.fixture
def kms_key(kms: Any) -> tuple[str, str]:
    """A fresh KMS key: (key id, ARN)."""
    meta = kms.create_key(Description="dbseal test")["KeyMetadata"]
    return str(meta["KeyId"]), str(meta["Arn"])


@pytest.fixture
def dbseal(tmp_path: Path) -> Callable[..., Result]:
    def run(*args: object, env: dict[str, str] | None = None) -> Result:
        return run_dbseal(tmp_path, *(str(a) for a in args), env=env)

    return run


def spec(key: str, url: str) -> str:
    return f"awskms:{key}?region=us-east-1&endpoint={url}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def no_kms_host() -> dict[str, str]:
    """A restore host without KMS: no AWS credentials, and the KMS endpoint does not answer."""
    return {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{closed_port()}",
    }


def seal(recipients: list[Recipient], data: bytes = DATA) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, recipients, parse_codec("zstd"))
    return out.getvalue()


def unseal(sealed: bytes, identities: list[Identity]) -> bytes:
    _header, plain = open_sealed(io.BytesIO(sealed), identities)
    return b"".join(plain)


# -- library ------------------------------------------------------------------------------


def test_round_trip_with_key_id_arn_and_alias(moto_server: Any, kms: Any, kms_key: Any) -> None:
    key_id, arn = kms_key
    alias = f"alias/dbseal-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    for given in (key_id, arn, alias):
        sealed = seal([AwsKmsRecipient.parse(spec(given, moto_server.url))])
        (stanza,) = read_header(io.BytesIO(sealed)).stanzas
        assert stanza.type == "awskms"
        assert stanza.args == (given.encode(), arn.encode())
        assert 1 <= len(stanza.body) <= 6144
        ident = AwsKmsIdentity(KmsSettings(endpoint=moto_server.url))
        assert unseal(sealed, [ident]) == DATA


def test_a_stanza_moved_to_another_file_does_not_open(
    tmp_path: Path, moto_server: Any, kms_key: Any, dbseal: Callable[..., Result]
) -> None:
    recipient = AwsKmsRecipient.parse(spec(kms_key[0], moto_server.url))
    a, b = seal([recipient]), seal([recipient], b"another backup\n")
    ha, hb = read_header(io.BytesIO(a)), read_header(io.BytesIO(b))
    ident = AwsKmsIdentity(KmsSettings(endpoint=moto_server.url))
    assert ident.unwrap(ha.stanzas, hb.file_id) is None
    assert ident.failure is None  # KMS answered: wrong encryption context, not an outage
    # File b with a's stanza (re-framed so the keyless check passes): no matching key.
    moved = Header(hb.suite, hb.codec, hb.level, hb.file_id, hb.label, ha.stanzas)
    forged = moved.encode(os.urandom(32)) + b[len(hb.raw) :]
    with pytest.raises(NoMatchingKey):
        unseal(forged, [ident])
    (tmp_path / "moved.dbseal").write_bytes(forged)
    res = dbseal(
        "unseal", "-o", "out", "moved.dbseal", env={"AWS_ENDPOINT_URL_KMS": moto_server.url}
    )
    res.assert_error(5)  # no matching key, not a KMS failure
    assert not (tmp_path / "out").exists()


def test_a_failed_kms_call_does_not_prevent_the_escrow_key(moto_server: Any, kms_key: Any) -> None:
    escrow = X25519Identity.generate()
    sealed = seal([AwsKmsRecipient.parse(spec(kms_key[0], moto_server.url)), escrow.recipient()])
    down = AwsKmsIdentity(KmsSettings(endpoint=f"http://127.0.0.1:{closed_port()}"))
    assert unseal(sealed, [down, escrow]) == DATA  # KMS first, and it fails
    assert down.failure is not None and "cannot reach AWS KMS" in down.failure.message


def test_a_silent_kms_times_out(
    monkeypatch: pytest.MonkeyPatch, aws_env: None, kms_key: Any
) -> None:
    monkeypatch.setattr(kms_mod, "READ_TIMEOUT_S", 0.3)
    monkeypatch.setattr(kms_mod, "MAX_ATTEMPTS", 1)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(KmsError) as err:
            seal([AwsKmsRecipient.parse(spec(kms_key[0], url))])
    assert time.monotonic() - t0 < 5
    assert "cannot reach AWS KMS" in err.value.message and "timeout" in err.value.message
    assert kms_key[0] in err.value.message


# -- the dbseal command ----------------------------------------------------------------------


def test_cli_seal_inspect_unseal(
    tmp_path: Path, moto_server: Any, kms_key: Any, dbseal: Callable[..., Result]
) -> None:
    key_id, arn = kms_key
    (tmp_path / "dump.sql").write_bytes(DATA)
    dbseal("seal", "-r", spec(key_id, moto_server.url), "-o", "dump.dbseal", "dump.sql")
    assert (tmp_path / "dump.dbseal").exists()

    human = dbseal("inspect", "dump.dbseal")
    assert human.rc == 0 and arn in human.out and "awskms" in human.out
    (stanza,) = json.loads(dbseal("inspect", "--json", "dump.dbseal").out)["stanzas"]
    assert stanza == {"type": "awskms", "key": key_id, "key_arn": arn, "region": "us-east-1"}

    # No -i, no passphrase: the KMS identity is used automatically; the endpoint comes from
    # AWS's own configuration (AWS_ENDPOINT_URL_KMS), the region from the recorded ARN.
    res = dbseal(
        "unseal", "-o", "dump.out", "dump.dbseal", env={"AWS_ENDPOINT_URL_KMS": moto_server.url}
    )
    assert res.rc == 0, res.stderr
    assert (tmp_path / "dump.out").read_bytes() == DATA


def test_cli_disabled_or_deleted_key(
    tmp_path: Path, moto_server: Any, kms: Any, kms_key: Any, dbseal: Callable[..., Result]
) -> None:
    key_id, arn = kms_key
    at_moto = {"AWS_ENDPOINT_URL_KMS": moto_server.url}
    (tmp_path / "in").write_bytes(DATA)
    assert dbseal("seal", "-r", spec(key_id, moto_server.url), "-o", "f", "in").rc == 0
    kms.disable_key(KeyId=key_id)

    line = dbseal("unseal", "-o", "out", "f", env=at_moto).assert_error(40)
    assert "the key is disabled" in line and arn in line and "enable-key" in line
    assert ESCROW_HINT in line
    line = dbseal("seal", "-r", spec(key_id, moto_server.url), "-o", "g", "in").assert_error(40)
    assert "Encrypt" in line and key_id in line and "disabled" in line
    assert not (tmp_path / "g").exists() and not (tmp_path / "out").exists()

    kms.enable_key(KeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    line = dbseal("unseal", "-o", "out", "f", env=at_moto).assert_error(40)
    assert "KMSInvalidStateException" in line and "cancel-key-deletion" in line


def test_cli_kms_unreachable(
    tmp_path: Path, moto_server: Any, kms_key: Any, dbseal: Callable[..., Result]
) -> None:
    key_id, arn = kms_key
    (tmp_path / "in").write_bytes(DATA)
    assert dbseal("seal", "-r", spec(key_id, moto_server.url), "-o", "f", "in").rc == 0
    down = f"http://127.0.0.1:{closed_port()}"

    t0 = time.monotonic()
    line = dbseal("unseal", "-o", "out", "f", env={"AWS_ENDPOINT_URL_KMS": down}).assert_error(40)
    assert time.monotonic() - t0 < 10
    assert "cannot reach AWS KMS" in line and arn in line and ESCROW_HINT in line
    line = dbseal("seal", "-r", spec(key_id, down), "-o", "g", "in").assert_error(40)
    assert "cannot reach AWS KMS" in line and key_id in line and "Encrypt" in line

    line = dbseal("seal", "-r", spec("alias/no-such-key", moto_server.url), "in").assert_error(40)
    assert "no such key or alias" in line and "alias/no-such-key" in line


def test_cli_escrow_restores_on_a_host_without_kms(
    tmp_path: Path, moto_server: Any, kms_key: Any, dbseal: Callable[..., Result]
) -> None:
    escrow = dbseal("keygen", "-o", "escrow.key").out.strip()
    (tmp_path / "in").write_bytes(DATA)
    sealed = dbseal("seal", "-r", spec(kms_key[0], moto_server.url), "-r", escrow, "-o", "f", "in")
    assert sealed.rc == 0, sealed.stderr

    res = dbseal("unseal", "-i", "escrow.key", "-o", "out", "f", env=no_kms_host())
    assert res.rc == 0, res.stderr
    assert (tmp_path / "out").read_bytes() == DATA
    # Without the escrow identity the error names it instead of the generic escrow advice.
    line = dbseal("unseal", "-o", "out2", "f", env=no_kms_host()).assert_error(40)
    assert "also be opened by its x25519 recipient" in line and ESCROW_HINT not in line


def test_cli_repository_default_recipient_is_awskms(
    tmp_path: Path, moto_server: Any, kms_key: Any, dbseal: Callable[..., Result]
) -> None:
    key_id, arn = kms_key
    repo_dir = tmp_path / "repo"
    config = RepoConfig(
        repository_id=uuid.uuid4().hex,
        created="2025-01-01T00:00:00+00:00",
        recipients=[spec(key_id, moto_server.url)],
    )
    repo = Repository.create(open_backend(str(repo_dir)), config)
    value = private_file(tmp_path / "pw", "s3cret-db-password")
    res = dbseal("secret", "set", "--repo", repo_dir, "--value-file", value, "dbpw")
    assert res.rc == 0, res.stderr
    info = json.loads(dbseal("inspect", "--json", repo_dir / "secrets" / "dbpw.dbseal").out)
    assert [s["key_arn"] for s in info["stanzas"]] == [arn]
    ident = AwsKmsIdentity(KmsSettings(endpoint=moto_server.url))
    assert load_secret(repo, "dbpw", [ident]).reveal() == b"s3cret-db-password"


def test_cli_refuses_credentials_in_the_recipient(dbseal: Callable[..., Result]) -> None:
    res = dbseal("seal", "-r", "awskms:alias/x?secret_access_key=wJalrXUtnFEMI", "-o", "f")
    line = res.assert_error(11)
    assert "credential" in line and "wJalrXUtnFEMI" not in line


# -- the fixture ---------------------------------------------------------------------------


def test_moto_server_process_and_port_are_gone_afterwards(
    moto_server_factory: Callable[[], AbstractContextManager[Any]],
) -> None:
    def port_open(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    with moto_server_factory() as server:
        pid, port = server.proc.pid, server.port
        assert server.proc.poll() is None and port_open(port)
    assert server.proc.returncode is not None
    assert not Path(f"/proc/{pid}").exists()  # exited and reaped
    assert not port_open(port)
