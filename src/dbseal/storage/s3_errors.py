"""botocore failures as dbseal errors: what S3 (or the network) said, and what to do.

* a missing key -> :class:`ObjectNotFound`; a failed ``If-None-Match`` -> :class:`ObjectExists`;
* timeouts, refused connections, throttling and 5xx answers -> :class:`StorageUnavailable`
  (transient: the retrying wrapper retries them);
* everything else (access denied, a missing bucket, bad TLS, no credentials) ->
  :class:`StorageError` with a hint naming the likely cause.

Text that comes from the network is made printable and cut to one short line.
"""

from __future__ import annotations

from dbseal.errors import ObjectExists, ObjectNotFound, StorageError, StorageUnavailable

NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
PRECONDITION = {"PreconditionFailed", "412"}
TRANSIENT = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "ConditionalRequestConflict",
    "OperationAborted",
}
_CREDENTIALS = (
    "check the AWS credentials in use (AWS_PROFILE or ?profile=, ~/.aws/credentials, "
    "the environment's AWS_ACCESS_KEY_ID, an instance role) and the machine's clock"
)
_HINTS = {
    "AccessDenied": (
        "the credentials in use lack a permission here: dbseal needs s3:GetObject, s3:PutObject, "
        "s3:DeleteObject and s3:ListBucket, s3:ListBucketMultipartUploads, "
        "s3:AbortMultipartUpload on the bucket and prefix (and kms:GenerateDataKey/kms:Decrypt "
        "with SSE-KMS); `aws sts get-caller-identity` shows who you are"
    ),
    "InvalidAccessKeyId": _CREDENTIALS,
    "SignatureDoesNotMatch": _CREDENTIALS,
    "ExpiredToken": "the session token expired: renew the session credentials",
    "InvalidToken": _CREDENTIALS,
    "RequestTimeTooSkewed": "the machine's clock is off; synchronise it (NTP)",
    "NoSuchBucket": (
        "create the bucket, check its name, ?region= and ?endpoint=, or let `dbseal init` "
        "create it with ?create_bucket=1"
    ),
    "InvalidObjectState": (
        "the object is in an archive storage class (GLACIER, DEEP_ARCHIVE): restore it "
        "with `aws s3api restore-object` first, then run the command again"
    ),
    "InvalidRequest": (
        "S3 refused the request's options: check ?sse=, ?sse_kms_key_id=, ?sse_c_key_file= "
        "(an SSE-C object needs the same key on every read) and ?object_lock_days= "
        "(the bucket needs Object Lock enabled)"
    ),
    "NotImplemented": (
        "the S3-compatible service does not implement this request; for conditional "
        "writes add ?conditional_writes=0 (see docs/s3.md)"
    ),
}
_TRANSIENT_HINT = (
    "S3 did not answer or asked to slow down: run the command again later; if it persists, "
    "check the endpoint, proxy and firewall"
)


def s3_error(exc: BaseException, what: str, *, missing_ok: bool = True) -> StorageError:
    """The dbseal error for a boto3/botocore exception raised while doing ``what``.

    ``missing_ok=False`` reports a 404 as a plain StorageError (for buckets and uploads).
    """
    from botocore import exceptions as bx

    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = printable(err.get("Code") or "?")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = printable(err.get("Message") or "")
        said = f"S3 answered {code}" + (f" ({status})" if status and str(status) != code else "")
        said += f": {message}" if message else ""
        if code in NOT_FOUND and missing_ok:
            return ObjectNotFound(f"{what}: not found")
        if code in PRECONDITION:
            return ObjectExists(f"{what}: the object already exists and is never overwritten")
        if code in TRANSIENT or status >= 500 or status == 429:
            return StorageUnavailable(f"{what}: {said}", hint=_TRANSIENT_HINT)
        hint = _HINTS.get(code) or _HINTS.get("AccessDenied" if status == 403 else "")
        return StorageError(f"{what}: {said}", hint=hint)
    if isinstance(exc, bx.SSLError):
        return StorageError(
            f"{what}: TLS failed: {printable(exc)}",
            hint="the endpoint's certificate is not trusted or does not name the host: give "
            "its CA with ?ca_bundle=FILE (or AWS_CA_BUNDLE); verification is never turned off",
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return StorageError(f"{what}: no usable AWS credentials ({exc})", hint=_CREDENTIALS)
    if isinstance(exc, bx.ProfileNotFound):
        return StorageError(f"{what}: {exc}", hint="check ?profile= and ~/.aws/config")
    if isinstance(exc, bx.NoRegionError):
        return StorageError(f"{what}: no AWS region", hint="add ?region=... or set AWS_REGION")
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError | bx.ResponseStreamingError):
        return StorageUnavailable(f"{what}: {printable(exc)}", hint=_TRANSIENT_HINT)
    if isinstance(exc, bx.IncompleteReadError | ConnectionError | TimeoutError):
        return StorageUnavailable(f"{what}: {printable(exc)}", hint=_TRANSIENT_HINT)
    if _is_urllib3_error(exc):
        return StorageUnavailable(f"{what}: {printable(exc)}", hint=_TRANSIENT_HINT)
    if isinstance(exc, bx.BotoCoreError | OSError | ValueError):
        return StorageError(f"{what}: {type(exc).__name__}: {printable(exc)}")
    raise exc


def client_error_code(exc: BaseException) -> str | None:
    """The S3 error code of a ``ClientError``, else None."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "")
    return None


def _is_urllib3_error(exc: BaseException) -> bool:
    try:
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - urllib3 comes with botocore
        return False
    return isinstance(exc, HTTPError)


def printable(value: object) -> str:
    """Text from the network, safe for a terminal and one line long."""
    return "".join(c if c.isprintable() else "?" for c in str(value))[:300]
