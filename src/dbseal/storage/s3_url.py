"""``s3://`` repository URLs, parsed and checked before anything goes on the network.

``s3://BUCKET[/PREFIX][?PARAM=VALUE&...]``; the parameters are listed in
``PARAMS`` and documented in docs/s3.md. Credentials never appear in the URL
(it shows up in process lists, shell history and logs): boto3's default chain
provides them (environment, shared files, a ``profile``, an instance or task role).
TLS verification cannot be turned off; plain ``http://`` is accepted only to a
loopback address (a local test service or MinIO on the same host).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from dbseal.errors import UsageError

MIB = 1 << 20
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
DEFAULT_PART_SIZE = 16 * MIB

PARAMS = (
    "endpoint",
    "region",
    "profile",
    "path_style",
    "ca_bundle",
    "sse",
    "sse_kms_key_id",
    "sse_c_key_file",
    "object_lock_days",
    "object_lock_mode",
    "storage_class",
    "create_bucket",
    "part_size_mib",
    "conditional_writes",
)
_CREDENTIAL_PARAMS = {
    "access_key",
    "access_key_id",
    "aws_access_key_id",
    "secret_key",
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
    "token",
    "password",
    "secret",
}
_NO_VERIFY_PARAMS = {"verify", "verify_ssl", "insecure", "no_verify", "tls_verify", "ssl_verify"}
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,253}[A-Za-z0-9]")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.\-=+,@]{1,255}")
_STORAGE_CLASS_RE = re.compile(r"[A-Z][A-Z0-9_]{1,39}")
_KMS_KEY_RE = re.compile(r"[A-Za-z0-9:/_\-.]{1,2048}")


@dataclass(frozen=True)
class S3Options:
    """What an ``s3://`` URL asks for; ``None`` means boto3's default."""

    bucket: str
    prefix: str = ""  # no leading or trailing slash; "" is the bucket's root
    endpoint: str | None = None
    region: str | None = None
    profile: str | None = None
    path_style: bool = False
    ca_bundle: str | None = None
    sse: str | None = None  # "AES256" or "aws:kms"
    sse_kms_key_id: str | None = None
    sse_c_key_file: str | None = None
    object_lock_days: int | None = None
    object_lock_mode: str = "GOVERNANCE"
    storage_class: str | None = None
    create_bucket: bool = False
    part_size: int = DEFAULT_PART_SIZE
    conditional_writes: bool = True

    @property
    def location(self) -> str:
        """The URL without its parameters: what messages and `dbseal list` show."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_s3_url(location: str) -> S3Options:
    """Check and split an ``s3://`` URL; every mistake is a :class:`UsageError`."""
    try:
        url = urlsplit(location)
        host, port, user, password = url.hostname, url.port, url.username, url.password
    except ValueError:
        raise UsageError(f"{_redact(location)} is not a valid s3:// URL") from None
    if url.scheme != "s3":
        raise UsageError(f"{_redact(location)} is not an s3:// URL")
    if user is not None or password is not None or "@" in url.netloc:
        raise UsageError(
            "the s3:// repository URL contains credentials; they are never accepted there "
            "(the URL shows in process lists and logs)",
            hint=_CREDENTIALS_HINT,
        )
    bucket = url.netloc
    if port is not None or not host or not _BUCKET_RE.fullmatch(bucket):
        raise UsageError(
            f"s3://{_printable(bucket)}: not a valid bucket name",
            hint="write s3://BUCKET/PREFIX; the endpoint goes in ?endpoint=https://host:port",
        )
    if url.fragment:
        raise UsageError(f"{_redact(location)}: an s3:// URL has no #fragment")
    prefix = _prefix(url.path, bucket)
    return _options(bucket, prefix, _query(url.query, bucket))


_CREDENTIALS_HINT = (
    "use boto3's usual sources: AWS_PROFILE or ?profile=NAME with ~/.aws/credentials, "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment, or an instance/task role"
)


def _prefix(path: str, bucket: str) -> str:
    segments = [s for s in path.split("/") if s]
    for seg in segments:
        if seg in (".", "..") or not _SEGMENT_RE.fullmatch(seg):
            raise UsageError(
                f"s3://{bucket}{_printable(path)}: invalid prefix segment {_printable(seg)!r}",
                hint="use letters, digits and _ . - = + , @ in the prefix, separated by /",
            )
    return "/".join(segments)


def _query(query: str, bucket: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise UsageError(f"s3://{bucket}: malformed ?parameters") from None
    found: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in _CREDENTIAL_PARAMS:
            raise UsageError(
                f"s3://{bucket}: credentials (?{_printable(name)}=) are never accepted in the URL",
                hint=_CREDENTIALS_HINT,
            )
        if key in _NO_VERIFY_PARAMS:
            raise UsageError(
                f"s3://{bucket}: TLS certificate verification cannot be turned off",
                hint="give the CA that signed the endpoint's certificate with ?ca_bundle=FILE "
                "(or AWS_CA_BUNDLE)",
            )
        if name not in PARAMS:
            raise UsageError(
                f"s3://{bucket}: unknown parameter {_printable(name)!r}",
                hint="known parameters: " + ", ".join(PARAMS) + " (see docs/s3.md)",
            )
        if name in found:
            raise UsageError(f"s3://{bucket}: parameter {name!r} is given twice")
        if not value:
            raise UsageError(f"s3://{bucket}: parameter {name!r} has no value")
        found[name] = value
    return found


def _options(bucket: str, prefix: str, q: dict[str, str]) -> S3Options:
    where = f"s3://{bucket}"
    endpoint = q.get("endpoint")
    if endpoint is not None:
        endpoint = check_endpoint(endpoint, f"{where}: ?endpoint=")
    ca_bundle = q.get("ca_bundle")
    if ca_bundle is not None:
        ca_bundle = os.path.abspath(ca_bundle)
        if not os.path.isfile(ca_bundle) or not os.access(ca_bundle, os.R_OK):
            raise UsageError(
                f"{where}: CA bundle {ca_bundle!r} is not a readable file",
                hint="?ca_bundle= names a PEM file of the CA certificates to trust",
            )
    sse, kms_key, sse_c = q.get("sse"), q.get("sse_kms_key_id"), q.get("sse_c_key_file")
    if sse is None and kms_key is not None:
        sse = "aws:kms"
    if sse not in (None, "AES256", "aws:kms"):
        raise UsageError(f"{where}: ?sse= must be AES256 or aws:kms")
    if kms_key is not None and (sse != "aws:kms" or not _KMS_KEY_RE.fullmatch(kms_key)):
        raise UsageError(f"{where}: ?sse_kms_key_id= needs sse=aws:kms and a key id, ARN or alias")
    if sse_c is not None and sse is not None:
        raise UsageError(
            f"{where}: ?sse_c_key_file= (SSE-C) and ?sse= (SSE-S3/SSE-KMS) exclude each other"
        )
    lock_days = _int(q, "object_lock_days", where, 1, 36500)
    lock_mode = q.get("object_lock_mode")
    if lock_mode is not None and lock_days is None:
        raise UsageError(f"{where}: ?object_lock_mode= needs ?object_lock_days=N")
    if lock_mode not in (None, "GOVERNANCE", "COMPLIANCE"):
        raise UsageError(f"{where}: ?object_lock_mode= must be GOVERNANCE or COMPLIANCE")
    storage_class = q.get("storage_class")
    if storage_class is not None and not _STORAGE_CLASS_RE.fullmatch(storage_class):
        raise UsageError(f"{where}: ?storage_class= looks like STANDARD_IA, GLACIER_IR, ...")
    part_mib = _int(q, "part_size_mib", where, MIN_PART_SIZE // MIB, 5 * 1024)
    return S3Options(
        bucket=bucket,
        prefix=prefix,
        endpoint=endpoint,
        region=_name(q, "region", where),
        profile=_name(q, "profile", where),
        path_style=_flag(q, "path_style", where, False),
        ca_bundle=ca_bundle,
        sse=sse,
        sse_kms_key_id=kms_key,
        sse_c_key_file=os.path.abspath(sse_c) if sse_c is not None else None,
        object_lock_days=lock_days,
        object_lock_mode=lock_mode or "GOVERNANCE",
        storage_class=storage_class,
        create_bucket=_flag(q, "create_bucket", where, False),
        part_size=part_mib * MIB if part_mib is not None else DEFAULT_PART_SIZE,
        conditional_writes=_flag(q, "conditional_writes", where, True),
    )


def check_endpoint(url: str, what: str) -> str:
    """An ``https://`` URL (``http://`` only to loopback) without credentials, path or query."""
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise UsageError(f"{what} {_printable(url)!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"{what} must be an https:// URL with a host, e.g. https://minio:9000")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{what} contains credentials; they never go in a URL", hint=_CREDENTIALS_HINT
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(
            f"{what} {_printable(url)!r} must be scheme://host[:port] only",
            hint="the bucket and prefix go in s3://BUCKET/PREFIX, not in the endpoint",
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise UsageError(
            f"{what} uses plain http:// to {host}: backups and credentials' signatures would "
            "cross the network without TLS",
            hint="use https:// (with ?ca_bundle=FILE for a private CA); http:// is accepted "
            "only to a loopback address",
        )
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(q: dict[str, str], name: str, where: str, default: bool) -> bool:
    value = q.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{where}: ?{name}= must be 1 or 0")


def _int(q: dict[str, str], name: str, where: str, low: int, high: int) -> int | None:
    value = q.get(name)
    if value is None:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise UsageError(f"{where}: ?{name}= must be a whole number from {low} to {high}")
    return int(value)


def _name(q: dict[str, str], name: str, where: str) -> str | None:
    value = q.get(name)
    if value is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", value):
        raise UsageError(f"{where}: ?{name}= {_printable(value)!r} is not a valid name")
    return value


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


def _redact(location: str) -> str:
    """The URL for a message, without anything that could be a credential."""
    head = location.split("?", 1)[0]
    if "@" in head:
        head = "s3://***@" + head.rsplit("@", 1)[1]
    return _printable(head)
