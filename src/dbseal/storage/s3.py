"""A repository in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...).

Objects live under ``<prefix>/<dir>/<name>`` with LocalBackend's directories
(``config.json`` at the prefix root, ``data/``, ``envelopes/``, ...). Large
objects stream up as multipart uploads with bounded memory
(:mod:`dbseal.storage.s3_io`); an object appears only when the upload
completes, and a failed upload is aborted. ``overwrite=False`` is a
conditional write (``If-None-Match: *`` on PutObject and
CompleteMultipartUpload), so two writers can never both create one name.

Server-side encryption is passed through (SSE-S3, SSE-KMS, or SSE-C with a key
from a 0600 file, sent on every request that needs it). Object Lock retention
applies to data, manifest and log objects only: an envelope must stay
rewritable (rewrap) and deletable (crypto-shredding); see docs/s3.md.

The URL grammar is in :mod:`dbseal.storage.s3_url`; error mapping in
:mod:`dbseal.storage.s3_errors`. boto3 is imported when the first request is made.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as _dt
import datetime as dt
import io
import secrets
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from dbseal.errors import ObjectExists, ObjectNotFound, SecretError, StorageError, UsageError
from dbseal.storage.backend import Handle, ObjectInfo
from dbseal.storage.retry import Retrier, RetryPolicy
from dbseal.storage.s3_errors import client_error_code, s3_error
from dbseal.storage.s3_io import RangeReader, UploadStream
from dbseal.storage.s3_url import S3Options, check_endpoint, parse_s3_url

if TYPE_CHECKING:
    from dbseal.crypto.secret import Secret

# The same kind -> directory mapping as LocalBackend (a unit test keeps them equal).
KIND_DIRS = {
    "config": "",
    "data": "data",
    "envelope": "envelopes",
    "manifest": "manifests",
    "log": "logs",
    "secret": "secrets",
    "verification": "verifications",
    "lock": "locks",
    "inflight": "inflight",
    "binlog": "binlogs",
}
LOCKED_KINDS = ("data", "manifest", "log")  # Object Lock retention; never envelopes
STORAGE_CLASS_KINDS = ("data",)  # small objects stay STANDARD so `list` and `show` work
READ_BUFFER = 256 << 10


class S3Backend:
    """Repository objects in one bucket, under one prefix."""

    def __init__(self, options: S3Options, retrier: Retrier | None = None) -> None:
        self.options = options
        # Retries are ours (botocore makes one attempt): the same budget for every backend.
        self.retrier = retrier or Retrier()
        self._once = Retrier(RetryPolicy(budget_s=0))  # put(): the caller's wrapper retries
        self.location = options.location
        self.bucket = options.bucket
        self._root = f"{options.prefix}/" if options.prefix else ""
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._sse_c_key = _load_sse_c_key(options.sse_c_key_file)

    @classmethod
    def from_url(cls, location: str, retrier: Retrier | None = None) -> S3Backend:
        """``s3://bucket[/prefix][?endpoint=..&region=..&...]`` (see docs/s3.md)."""
        return cls(parse_s3_url(location), retrier)

    # -- addressing and request arguments ----------------------------------------------

    def key(self, handle: Handle) -> str:
        directory = KIND_DIRS[handle.kind]
        return f"{self._root}{directory}/{handle.name}" if directory else self._root + handle.name

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (boto3 is imported only then)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StorageError(
                "s3:// repositories need boto3, which is not installed",
                hint="pip install 'dbseal[s3]'",
            ) from None
        o, policy = self.options, self.retrier.policy
        config = Config(
            connect_timeout=policy.connect_timeout_s,
            read_timeout=policy.read_timeout_s,
            tcp_keepalive=True,
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=16,
            s3={"addressing_style": "path" if o.path_style else "auto"},
        )
        try:
            session = boto3.session.Session(profile_name=o.profile)
            region = o.region or session.region_name or ("us-east-1" if o.endpoint else None)
            client = session.client(
                "s3",
                region_name=region,
                endpoint_url=o.endpoint,
                verify=o.ca_bundle,  # None: boto3's default (certifi or AWS_CA_BUNDLE); never False
                config=config,
            )
        except Exception as exc:
            raise s3_error(exc, f"cannot set up S3 access for {self.location}") from None
        try:  # the endpoint boto3 chose (AWS_ENDPOINT_URL_S3, ~/.aws/config) passes the same test
            check_endpoint(str(client.meta.endpoint_url), "the S3 endpoint")
        except UsageError as exc:
            raise StorageError(f"{self.location}: {exc.message}", hint=exc.hint) from None
        return client

    def _sse_c(self) -> dict[str, Any]:
        if self._sse_c_key is None:
            return {}
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": self._sse_c_key.reveal()}

    def _put_args(self, handle: Handle) -> dict[str, Any]:
        o, args = self.options, self._sse_c()
        if o.sse is not None:
            args["ServerSideEncryption"] = o.sse
        if o.sse_kms_key_id is not None:
            args["SSEKMSKeyId"] = o.sse_kms_key_id
        if o.object_lock_days is not None and handle.kind in LOCKED_KINDS:
            until = dt.datetime.now(dt.UTC) + dt.timedelta(days=o.object_lock_days)
            args["ObjectLockMode"] = o.object_lock_mode
            args["ObjectLockRetainUntilDate"] = until
        if o.storage_class is not None and handle.kind in STORAGE_CLASS_KINDS:
            args["StorageClass"] = o.storage_class
        return args

    def _what(self, verb: str, handle: Handle) -> str:
        prep = "to" if verb == "write" else "in"
        return f"cannot {verb} {handle.kind} {handle.name!r} {prep} {self.location}"

    # -- writing -----------------------------------------------------------------------

    def writer(
        self, handle: Handle, *, overwrite: bool = False
    ) -> contextlib.AbstractContextManager[BinaryIO]:
        return self._upload(handle, overwrite, self.retrier)

    @contextlib.contextmanager
    def _upload(self, handle: Handle, overwrite: bool, retrier: Retrier) -> Iterator[BinaryIO]:
        upload = UploadStream(
            self.client,
            self.bucket,
            self.key(handle),
            what=self._what("write", handle),
            part_size=self.options.part_size,
            overwrite=overwrite,
            conditional=self.options.conditional_writes,
            put_args=self._put_args(handle),
            sse_c=self._sse_c(),
            exists=lambda: self.stat(handle) is not None,
            same_content=lambda data: self._holds(handle, data),
            retrier=retrier,
        )
        try:
            yield cast(BinaryIO, upload)
            upload.finish()
        except BaseException:
            upload.abort()
            raise
        finally:
            upload.close()

    def put(self, handle: Handle, data: bytes, *, overwrite: bool = False) -> None:
        """One attempt: the bytes are in memory, so RetryingBackend replays the whole put."""
        with self._upload(handle, overwrite, self._once) as fh:
            fh.write(data)

    def _holds(self, handle: Handle, data: bytes) -> bool:
        try:
            return self.get(handle) == data
        except StorageError:
            return False

    # -- reading -----------------------------------------------------------------------

    @contextlib.contextmanager
    def open(self, handle: Handle, start: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        what, key, sse_c = self._what("read", handle), self.key(handle), self._sse_c()

        def get(first: int, last: int | None, etag: str | None) -> dict[str, Any]:
            args = dict(sse_c)
            if first or last is not None:
                args["Range"] = f"bytes={first}-{'' if last is None else last}"
            if etag:
                args["IfMatch"] = etag
            return cast(dict[str, Any], self.client.get_object(Bucket=self.bucket, Key=key, **args))

        response: dict[str, Any] | None = None
        if length is not None and length <= 0:
            if self.stat(handle) is None:
                raise ObjectNotFound(f"{handle.kind} {handle.name!r} not found in {self.location}")
        else:
            try:
                response = get(start, None if length is None else start + length - 1, None)
            except Exception as exc:
                if client_error_code(exc) != "InvalidRange":  # InvalidRange: start >= size
                    err = s3_error(exc, what)
                    if isinstance(err, ObjectNotFound):
                        err = ObjectNotFound(
                            f"{handle.kind} {handle.name!r} not found in {self.location}"
                        )
                    raise err from None
        if response is None:
            yield cast(BinaryIO, io.BytesIO(b""))
            return
        end = start + int(response["ContentLength"])
        reader = RangeReader(get, response, start, end, what, self.retrier)
        with io.BufferedReader(reader, READ_BUFFER) as fh:
            yield cast(BinaryIO, fh)

    def get(self, handle: Handle) -> bytes:
        with self.open(handle) as fh:
            return fh.read()

    def stat(self, handle: Handle) -> ObjectInfo | None:
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=self.key(handle), **self._sse_c())
        except Exception as exc:
            err = s3_error(exc, f"cannot stat {handle.kind} {handle.name!r} in {self.location}")
            if isinstance(err, ObjectNotFound):
                return None
            raise err from None
        until = r.get("ObjectLockRetainUntilDate")
        return ObjectInfo(
            handle,
            int(r["ContentLength"]),
            r["LastModified"].timestamp(),
            until.timestamp() if until is not None else None,
        )

    def list(self, kind: str, prefix: str = "") -> builtins.list[str]:
        directory = KIND_DIRS[kind]
        base = f"{self._root}{directory}/" if directory else self._root
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base + prefix}
        if kind == "config":
            args["Delimiter"] = "/"
        out: builtins.list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                for obj in page.get("Contents", ()):
                    name = str(obj["Key"])[len(base) :]
                    if name and not any(s.startswith(".") for s in name.split("/")):
                        out.append(name)
        except Exception as exc:
            raise s3_error(
                exc, f"cannot list {kind} objects in {self.location}", missing_ok=False
            ) from None
        return sorted(out)

    # -- removing ----------------------------------------------------------------------

    def remove(self, handle: Handle) -> None:
        """Delete an object (in a versioned bucket: hide it behind a delete marker)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(handle))
        except Exception as exc:
            err = s3_error(exc, f"cannot remove {handle.kind} {handle.name!r} in {self.location}")
            if not isinstance(err, ObjectNotFound):
                raise err from None

    # -- the bucket --------------------------------------------------------------------

    def prepare(self) -> None:
        """Check the bucket is reachable (create it with ``?create_bucket=1``) and its Object Lock."""
        what = f"cannot use bucket {self.bucket!r} ({self.location})"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            code = client_error_code(exc)
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise s3_error(exc, what, missing_ok=False) from None
            if not self.options.create_bucket:
                raise StorageError(
                    f"{what}: the bucket does not exist",
                    hint="create it (e.g. `aws s3 mb s3://BUCKET`), or add ?create_bucket=1 "
                    "to the repository URL once",
                ) from None
            self._create_bucket(what)
        if self.options.object_lock_days is not None:
            self._check_object_lock(what)
        if self.options.conditional_writes:
            self._probe_conditional_writes(what)

    def _create_bucket(self, what: str) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if self.options.object_lock_days is not None:
            args["ObjectLockEnabledForBucket"] = True
        try:
            self.client.create_bucket(**args)
        except Exception as exc:
            if client_error_code(exc) != "BucketAlreadyOwnedByYou":
                raise s3_error(exc, f"{what}: creating it failed", missing_ok=False) from None

    def _check_object_lock(self, what: str) -> None:
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except Exception as exc:
            if client_error_code(exc) != "ObjectLockConfigurationNotFoundError":
                raise s3_error(exc, what, missing_ok=False) from None
            enabled = None
        if enabled != "Enabled":
            raise StorageError(
                f"{what}: ?object_lock_days= is set but the bucket has no Object Lock",
                hint="Object Lock is chosen when a bucket is created: create a new bucket with "
                "it (`aws s3api create-bucket --object-lock-enabled-for-bucket`), or drop "
                "?object_lock_days=",
            )

    def _probe_conditional_writes(self, what: str) -> None:
        """Refuse a service that ignores ``If-None-Match: *`` (it would overwrite silently)."""
        key = f"{self._root}.dbseal-probe-{secrets.token_hex(8)}"  # never listed (a dot name)
        args = {k: v for k, v in self._put_args(Handle("config", "x")).items() if "Lock" not in k}
        failure: Exception | None = None
        try:
            for _ in range(2):
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=b"", IfNoneMatch="*", **args
                )
        except Exception as exc:
            failure = exc
        finally:
            with contextlib.suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=key)
        hint = (
            "this S3-compatible service does not honour If-None-Match: *; add "
            "?conditional_writes=0 to the URL (dbseal then checks with HEAD before writing, "
            "which leaves a small race between hosts; see docs/s3.md)"
        )
        if failure is None:
            raise StorageError(f"{what}: a create-only write overwrote an object", hint=hint)
        if client_error_code(failure) in ("NotImplemented", "501"):
            raise StorageError(f"{what}: conditional writes are not implemented", hint=hint)
        err = s3_error(failure, f"{what}: probing conditional writes")
        if not isinstance(err, ObjectExists):  # ObjectExists: refused the second time, as it must
            raise err from None

    # -- unfinished uploads ------------------------------------------------------------

    def _uploads(self) -> builtins.list[tuple[str, str, str]]:
        """(key, upload id, initiated) of the unfinished multipart uploads of this repository."""
        out = []
        try:
            pages = self.client.get_paginator("list_multipart_uploads")
            for page in pages.paginate(Bucket=self.bucket, Prefix=self._root):
                for up in page.get("Uploads", ()):
                    key, initiated = str(up["Key"]), up.get("Initiated")
                    if self._owns(key):
                        when = initiated.strftime("%Y-%m-%dT%H:%M:%SZ") if initiated else "?"
                        out.append((key, str(up["UploadId"]), when))
        except Exception as exc:
            raise s3_error(
                exc, f"cannot list unfinished uploads in {self.location}", missing_ok=False
            ) from None
        return sorted(out)

    def _owns(self, key: str) -> bool:
        rel = key[len(self._root) :]
        head, sep, _rest = rel.partition("/")
        return not sep or head in KIND_DIRS.values()

    def leftovers(self) -> builtins.list[str]:
        """Unfinished multipart uploads under the prefix (a client died mid-upload)."""
        return [
            f"s3://{self.bucket}/{key} (unfinished multipart upload started {when}, id {uid[:16]})"
            for key, uid, when in self._uploads()
        ]

    def clean_leftovers(self, min_age_s: float = 3600.0) -> int:
        """Abort the unfinished multipart uploads started more than ``min_age_s`` ago."""
        n = 0
        cutoff = _dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=min_age_s)
        for key, uid, when in self._uploads():
            try:
                started = _dt.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
            except ValueError:
                started = None
            if started is not None and started > cutoff:
                continue  # may belong to a backup still running on another host
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=uid)
                n += 1
            except Exception as exc:
                if client_error_code(exc) != "NoSuchUpload":
                    raise s3_error(exc, f"cannot abort the upload of {key}") from None
        return n


def _load_sse_c_key(path: str | None) -> Secret | None:
    """The SSE-C key: 32 bytes from a 0600 file (raw, or ``hex:`` and 64 hex digits)."""
    if path is None:
        return None
    # storage does not use crypto, but secret files follow one set of rules (0600, owner,
    # never logged); this is the single exception, and only for SSE-C.
    from dbseal.crypto.secret import from_file

    key = from_file(path, "SSE-C key file")
    if len(key) != 32:
        key.close()
        raise SecretError(
            f"SSE-C key file {path!r} does not hold a 256-bit key",
            hint="write exactly 32 bytes, or `hex:` and 64 hex digits "
            '(e.g. `(umask 077; printf "hex:%s" "$(openssl rand -hex 32)" > FILE)`)',
        )
    return key
