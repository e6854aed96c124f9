"""``s3://`` URLs: what is accepted, and what is refused before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbseal.errors import UsageError
from dbseal.storage import local
from dbseal.storage.s3 import KIND_DIRS
from dbseal.storage.s3_url import DEFAULT_PART_SIZE, MIB, parse_s3_url


def test_bucket_prefix_and_defaults() -> None:
    o = parse_s3_url("s3://my-bucket/backups/db1/")
    assert (o.bucket, o.prefix, o.location) == (
        "my-bucket",
        "backups/db1",
        "s3://my-bucket/backups/db1",
    )
    assert o.endpoint is None and o.region is None and not o.path_style
    assert o.part_size == DEFAULT_PART_SIZE and o.conditional_writes and not o.create_bucket
    assert parse_s3_url("s3://my-bucket").location == "s3://my-bucket"


def test_every_parameter(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    o = parse_s3_url(
        f"s3://b-1/p?endpoint=https://minio.example.com:9000&region=eu-west-1&profile=backup"
        f"&path_style=1&ca_bundle={ca}&sse=aws:kms&sse_kms_key_id=alias/dbseal"
        "&object_lock_days=30&object_lock_mode=COMPLIANCE&storage_class=STANDARD_IA"
        "&create_bucket=1&part_size_mib=64&conditional_writes=0"
    )
    assert o.endpoint == "https://minio.example.com:9000" and o.region == "eu-west-1"
    assert o.profile == "backup" and o.path_style and o.ca_bundle == str(ca)
    assert (o.sse, o.sse_kms_key_id) == ("aws:kms", "alias/dbseal")
    assert (o.object_lock_days, o.object_lock_mode) == (30, "COMPLIANCE")
    assert o.storage_class == "STANDARD_IA" and o.create_bucket and not o.conditional_writes
    assert o.part_size == 64 * MIB
    assert parse_s3_url("s3://b-1?sse_kms_key_id=k1").sse == "aws:kms"  # implied
    assert (
        parse_s3_url("s3://b-1?endpoint=http://127.0.0.1:9000").endpoint == "http://127.0.0.1:9000"
    )
    assert parse_s3_url("s3://b-1?endpoint=http://[::1]:9000").endpoint == "http://[::1]:9000"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("s3://AKIA:secret@bucket/p", "credentials"),
        ("s3://bucket/p?aws_access_key_id=AKIA", "credentials"),
        ("s3://bucket/p?secret_key=x", "credentials"),
        ("s3://bucket/p?endpoint=https://user:pw@minio:9000", "credentials"),
        ("s3://bucket/p?verify=0", "cannot be turned off"),
        ("s3://bucket/p?insecure=1", "cannot be turned off"),
        ("s3://bucket/p?endpoint=http://minio.example.com:9000", "plain http"),
        ("s3://bucket/p?endpoint=http://10.0.0.5:9000", "plain http"),
        ("s3://bucket/p?endpoint=ftp://minio", "https://"),
        ("s3://bucket/p?endpoint=https://minio/bucket", "scheme://host"),
        ("s3://bucket/p?ca_bundle=/nonexistent/ca.pem", "not a readable file"),
        ("s3://bucket/p?sse=aes256", "AES256 or aws:kms"),
        ("s3://bucket/p?sse=AES256&sse_kms_key_id=k", "sse=aws:kms"),
        ("s3://bucket/p?sse=AES256&sse_c_key_file=/k", "exclude each other"),
        ("s3://bucket/p?object_lock_mode=GOVERNANCE", "object_lock_days"),
        ("s3://bucket/p?object_lock_days=0", "whole number"),
        ("s3://bucket/p?object_lock_days=1&object_lock_mode=forever", "GOVERNANCE or COMPLIANCE"),
        ("s3://bucket/p?part_size_mib=4", "whole number from 5"),
        ("s3://bucket/p?path_style=maybe", "1 or 0"),
        ("s3://bucket/p?regoin=eu-west-1", "unknown parameter"),
        ("s3://bucket/p?region=a&region=b", "twice"),
        ("s3://bucket/p?region=", "no value"),
        ("s3://bucket/../etc", "invalid prefix"),
        ("s3://bucket/a b", "invalid prefix"),
        ("s3://bucket:9000/p", "bucket name"),
        ("s3://b/p", "bucket name"),
        ("s3:///p", "bucket name"),
        ("s3://bucket/p#x", "fragment"),
    ],
)
def test_refused(url: str, says: str) -> None:
    with pytest.raises(UsageError) as got:
        parse_s3_url(url)
    assert says in got.value.message
    assert "pw" not in got.value.message and "secret" not in got.value.message.replace(
        "secret_", ""
    )


def test_kinds_map_to_the_same_directories_as_a_local_repository() -> None:
    assert KIND_DIRS == local._DIRS
