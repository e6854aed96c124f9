"""Fixtures shared by all tests (moto's server among them). Helpers live in tests/unit/sealkit.py."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from dbseal.crypto.x25519 import X25519Identity


@pytest.fixture
def identity() -> X25519Identity:
    return X25519Identity.generate()


@pytest.fixture
def identity_file(tmp_path: Path, identity: X25519Identity) -> Path:
    """An identity file as `dbseal keygen -o` writes it (mode 0600)."""
    path = tmp_path / "identity.txt"
    path.write_text(identity.identity_file_text())
    path.chmod(0o600)
    return path


# -- moto's server: real AWS KMS and S3 HTTP APIs on loopback (test_kms.py, test_s3.py, -----
# -- the S3 run of the backend conformance suite) -------------------------------------------

# moto (5.x) accepts Encrypt and Decrypt under a disabled key or one pending deletion;
# AWS refuses them with DisabledException / KMSInvalidStateException. moto also ignores
# SSE-C: it stores the object and serves it to anyone, while S3 refuses a read (GET,
# HEAD) or an UploadPart without the customer key (400 InvalidRequest) or with another
# key (403). The server runs with these small additions so the tests see AWS's answers
# (path-style requests only, as the tests make them). Nothing of dbseal is patched.
_MOTO_LAUNCHER = """
import re
import sys
from urllib.parse import unquote, urlsplit

from moto.core.exceptions import JsonRESTError
from moto.kms.models import KmsBackend
from moto.s3.responses import S3Response
from moto.server import main

def _check_state(backend, key_id):
    key = backend.keys[backend.any_id_to_key_id(key_id)]
    if key.key_state == "Disabled":
        raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
    if key.key_state != "Enabled":
        raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is pending deletion.")

_encrypt, _decrypt = KmsBackend.encrypt, KmsBackend.decrypt

def encrypt(self, key_id, plaintext, encryption_context):
    _check_state(self, key_id)
    return _encrypt(self, key_id, plaintext, encryption_context)

def decrypt(self, ciphertext_blob, encryption_context, key_id=None):
    plaintext, arn = _decrypt(self, ciphertext_blob, encryption_context, key_id)
    _check_state(self, arn)
    return plaintext, arn

KmsBackend.encrypt, KmsBackend.decrypt = encrypt, decrypt

_SSEC_MD5 = "x-amz-server-side-encryption-customer-key-md5"
_ssec_objects = {}  # (bucket, key) -> MD5 of the SSE-C key the object was written with
_ssec_uploads = {}  # multipart upload id -> MD5 of its SSE-C key
_key_response = S3Response.key_response

def _s3_error(status, code, message):
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return status, {"content-type": "application/xml"}, body

def key_response(self, request, full_url, headers):
    url = urlsplit(full_url)
    bucket, _, key = unquote(url.path).lstrip("/").partition("/")
    upload = re.search(r"(?:^|&)uploadId=([^&]+)", url.query)
    method, given = request.method, request.headers.get(_SSEC_MD5)
    stored = _ssec_uploads.get(upload.group(1)) if upload else _ssec_objects.get((bucket, key))
    if stored and (method in ("GET", "HEAD") or (method == "PUT" and upload)):
        if not given:
            return _s3_error(400, "InvalidRequest", "The object was stored using a form of "
                             "Server Side Encryption. The correct parameters must be provided "
                             "to retrieve the object.")
        if given != stored:
            return _s3_error(403, "AccessDenied", "Access Denied")
    status, out_headers, body = _key_response(self, request, full_url, headers)
    if int(status) < 300:
        if method == "PUT" and not url.query:
            _ssec_objects[(bucket, key)] = given
        elif method == "POST" and re.search(r"(?:^|&)uploads(?:=|&|$)", url.query):
            text = body.decode() if isinstance(body, bytes) else str(body)
            found = re.search(r"<UploadId>([^<]+)</UploadId>", text)
            if found:
                _ssec_uploads[found.group(1)] = given
        elif method == "POST" and upload:
            _ssec_objects[(bucket, key)] = _ssec_uploads.pop(upload.group(1), None)
        elif method == "DELETE" and not url.query:
            _ssec_objects.pop((bucket, key), None)
    return status, out_headers, body

S3Response.key_response = key_response
sys.exit(main(sys.argv[1:]))
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class MotoServer:
    """A running `moto_server`: its process and its loopback port."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    """A loopback TCP port that nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def run_moto_server(timeout: float = 20) -> Iterator[MotoServer]:
    """Start moto's server (a subprocess) on 127.0.0.1 and a free port; stop it afterwards.

    It needs no credentials and gets none: AWS_* variables are not passed to it.
    """
    try:
        import moto.server  # noqa: F401 - only checks that it is installed
    except ImportError:
        message = "moto[server] is missing: pip install -e '.[dev]'"
        if _in_ci():
            pytest.fail(f"{message} (CI is set)")
        pytest.skip(message)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MOTO_LAUNCHER, "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _port_open(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"moto_server did not start: {log.read()[-2000:]!r}")
                time.sleep(0.05)
            yield MotoServer(proc, port)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session; tests make their own keys and buckets in it."""
    with run_moto_server() as server:
        yield server


@pytest.fixture
def moto_server_factory() -> Callable[[], contextlib.AbstractContextManager[MotoServer]]:
    """``with moto_server_factory() as server:`` a private server (to test start and stop)."""
    return run_moto_server


@pytest.fixture
def aws_test_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake AWS credentials and a region for this test (and the processes it starts) only;
    the developer's ~/.aws and AWS_* variables are out of the picture."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass(frozen=True)
class S3Place:
    """Buckets in the moto server and ``s3://`` repository URLs that point at them."""

    endpoint: str
    client: Any  # a boto3 S3 client with the fake credentials

    def bucket(self, *, object_lock: bool = False) -> str:
        """A new, empty bucket (with Object Lock, hence versioning, if asked)."""
        name = f"dbseal-{uuid.uuid4().hex[:20]}"
        self.client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name

    def url(self, bucket: str, prefix: str = "repo", **params: object) -> str:
        query = {"endpoint": self.endpoint, "region": "us-east-1", "path_style": "1"}
        query.update({k: str(v) for k, v in params.items()})
        path = f"/{prefix}" if prefix else ""
        return f"s3://{bucket}{path}?" + urlencode(query, safe=":/")


@pytest.fixture
def s3(moto_server: MotoServer, aws_test_env: None) -> S3Place:
    """The moto server's S3 API, with fake credentials set for this test."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1")
    return S3Place(moto_server.url, client)
