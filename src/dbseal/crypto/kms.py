"""AWS KMS recipients: the data key is wrapped by a KMS key that never leaves AWS.

Recipient strings are ``awskms:KEY[?region=R&endpoint=URL&profile=P]`` where KEY
is a key id, key ARN, alias name (``alias/...``) or alias ARN. Credentials come
from boto3's default chain (environment, shared config and credentials files,
instance or container role) and never from the recipient string.

Wrapping calls KMS ``Encrypt`` on the 32-byte data key that dbseal generated
(not ``GenerateDataKey``: the key must exist before the first recipient wraps
it, and every other recipient wraps the same key), with the encryption context
``{"dbseal:format": "dbseal/v1", "dbseal:file_id": <hex>}``, which binds the
stanza to its file and is recorded in CloudTrail with every Decrypt.

Stanza ``awskms``: args = [key as given (UTF-8), key ARN returned by KMS (UTF-8)],
body = the KMS CiphertextBlob (1..6144 bytes). Unwrapping calls ``Decrypt``
with the same context and ``KeyId`` = the recorded ARN.

KMS is a service, so unwrapping can fail for reasons that say nothing about
the file (unreachable, key disabled, access denied). :class:`AwsKmsIdentity`
then returns ``None`` like any identity that does not open a file, and keeps
the reason in ``failure``; :func:`dbseal.ops.seal.unwrap_data_key` raises it
when no other identity opened the file. A blob that KMS refuses as invalid
ciphertext (another file's stanza, a wrong context) is simply "does not open".
boto3 is imported only when KMS is actually called.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbseal.errors import InvalidKeySpec, KmsError
from dbseal.format.header import DATA_KEY_LEN
from dbseal.format.stanza import Stanza

STANZA_TYPE = "awskms"
PREFIX = "awskms:"
FORMAT_CONTEXT = "dbseal/v1"
MAX_BLOB_LEN = 6144
MAX_KEY_ID_LEN = 2048
# Short timeouts and few retries: a KMS that does not answer must not hang a backup.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 3  # boto3 "standard" retry mode: the first call and two retries

ESCROW_HINT = (
    "an escrow recipient (e.g. an age1... key kept offline) would have made this "
    "restore possible without the KMS"
)
_PARAMS = ("region", "endpoint", "profile")
_KEY_RE = re.compile(rf"[A-Za-z0-9:/_.\-]{{1,{MAX_KEY_ID_LEN}}}")
_REGION_RE = re.compile(r"[a-z0-9][a-z0-9\-]{0,31}")
_PROFILE_RE = re.compile(r"[A-Za-z0-9_.@+\-]{1,128}")
_CREDENTIAL_WORDS = ("key", "secret", "token", "password", "credential", "session")
_NOT_OPEN = ("InvalidCiphertextException", "IncorrectKeyException")


@dataclass(frozen=True)
class KmsSettings:
    """How to reach KMS; every field ``None`` means boto3's defaults."""

    region: str | None = None
    endpoint: str | None = None
    profile: str | None = None


def is_kms_spec(text: str) -> bool:
    return text.strip().startswith(PREFIX)


def encryption_context(file_id: bytes) -> dict[str, str]:
    return {"dbseal:format": FORMAT_CONTEXT, "dbseal:file_id": file_id.hex()}


def arn_region(arn: str) -> str | None:
    """The region of a KMS key or alias ARN (``arn:PARTITION:kms:REGION:...``), else None."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "kms" and parts[3]:
        return parts[3]
    return None


def check_endpoint(url: str, what: str) -> None:
    """Refuse URLs that would carry credentials or send data keys in clear over a network."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise InvalidKeySpec(f"{what} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidKeySpec(f"{what} must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidKeySpec(
            f"{what} contains credentials; they never go in a recipient",
            hint="use AWS's usual sources: environment, ~/.aws/credentials, a profile or a role",
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidKeySpec(
            f"{what} uses plain http:// to {host}: the data key would cross the network in clear",
            hint="use https://, or http:// only to a loopback address (a local test service)",
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_spec(text: str) -> tuple[str, KmsSettings]:
    """``awskms:KEY[?region=..&endpoint=..&profile=..]`` -> (KEY, settings).

    Messages name the key and parameter names, never parameter values (a
    mistaken credential must not be echoed into logs).
    """
    text = text.strip()
    if not text.startswith(PREFIX):
        raise InvalidKeySpec("an AWS KMS recipient starts with awskms:")
    key, _, query = text[len(PREFIX) :].partition("?")
    if not _KEY_RE.fullmatch(key):
        raise InvalidKeySpec(
            "awskms: needs a KMS key id, key ARN, alias/NAME or alias ARN",
            hint="e.g. awskms:alias/dbseal-backups?region=eu-west-1",
        )
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise InvalidKeySpec(f"awskms:{key}: the part after '?' is not NAME=VALUE&...") from None
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMS:
            if any(w in name.lower() for w in _CREDENTIAL_WORDS):
                raise InvalidKeySpec(
                    f"awskms:{key}: parameter {name!r} looks like a credential; "
                    "credentials never go in a recipient string (it is stored and shown)",
                    hint="give credentials through AWS's usual sources: AWS_PROFILE, "
                    "~/.aws/credentials, environment variables or an instance role",
                )
            raise InvalidKeySpec(
                f"awskms:{key}: unknown parameter {name!r}", hint="use region, endpoint, profile"
            )
        if name in found or not value:
            raise InvalidKeySpec(f"awskms:{key}: parameter {name!r} is repeated or empty")
        found[name] = value
    region, endpoint, profile = (found.get(n) for n in _PARAMS)
    if region is not None and not _REGION_RE.fullmatch(region):
        raise InvalidKeySpec(f"awskms:{key}: region is not an AWS region name")
    if profile is not None and not _PROFILE_RE.fullmatch(profile):
        raise InvalidKeySpec(f"awskms:{key}: profile is not a valid profile name")
    if endpoint is not None:
        check_endpoint(endpoint, f"awskms:{key}: endpoint")
    return key, KmsSettings(region or arn_region(key), endpoint, profile)


def _client(settings: KmsSettings, region: str | None, key: str, op: str) -> Any:
    """A boto3 KMS client with short timeouts; boto3 is imported here, not at start-up."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise KmsError(
            "AWS KMS needs boto3, which is not installed", hint="pip install 'dbseal[kms]'"
        ) from None
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    try:
        session = boto3.Session(profile_name=settings.profile, region_name=region)
        client = session.client("kms", endpoint_url=settings.endpoint, config=config)
    except (BotoCoreError, ValueError) as exc:  # ValueError: e.g. AWS_REGION set but empty
        raise _failure(op, key, exc, settings.endpoint) from None
    try:  # the endpoint boto3 chose (AWS_ENDPOINT_URL_KMS, ~/.aws/config) passes the same test
        check_endpoint(str(client.meta.endpoint_url), "the AWS KMS endpoint")
    except InvalidKeySpec as exc:
        raise KmsError(
            f"AWS KMS {op} with key {key} refused: {exc.message}", hint=exc.hint
        ) from None
    return client


_CODES: dict[str, tuple[str, str]] = {
    "AccessDeniedException": (
        "access denied",
        "the AWS identity in use needs kms:{op} on this key "
        "(key policy and IAM policy; `aws sts get-caller-identity` shows who you are)",
    ),
    "DisabledException": (
        "the key is disabled",
        "enable it (`aws kms enable-key --key-id ARN`) or use another key",
    ),
    "KMSInvalidStateException": (
        "the key is not usable in its current state (pending deletion or import?)",
        "`aws kms describe-key` shows its state; `aws kms cancel-key-deletion` undoes a deletion",
    ),
    "NotFoundException": (
        "no such key or alias in this account and region",
        "check the key id or alias and the region (?region=... or AWS_REGION)",
    ),
    "UnrecognizedClientException": (
        "AWS rejected the credentials",
        "check AWS_PROFILE / ~/.aws/credentials / the environment's AWS keys",
    ),
    "InvalidSignatureException": (
        "AWS rejected the request signature",
        "check the credentials and the machine's clock",
    ),
    "ExpiredTokenException": ("the AWS session token expired", "renew the session credentials"),
    "ThrottlingException": ("KMS throttled the request", "try again later"),
    "KeyUnavailableException": ("the key is temporarily unavailable", "try again later"),
    "DependencyTimeoutException": ("KMS timed out internally", "try again later"),
    "KMSInternalException": ("KMS failed internally", "try again later"),
}


def _printable(value: object) -> str:
    """Text from the network, safe for a terminal and one line long."""
    return "".join(c if c.isprintable() else "?" for c in str(value))[:500]


def _endpoint(client: Any) -> str:
    """The URL a client sends to (the one boto3 resolved, for messages)."""
    return str(client.meta.endpoint_url)


def _failure(op: str, key: str, exc: Exception, endpoint: str | None) -> KmsError:
    """A clear KmsError for a botocore exception: what KMS (or the network) said, and the key."""
    from botocore import exceptions as bx

    where = endpoint or "the AWS KMS endpoint"
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code, detail = _printable(err.get("Code", "?")), _printable(err.get("Message") or "")
        what, hint = _CODES.get(code, (f"KMS answered {code}", "see the AWS KMS documentation"))
        what = f"{what} ({code}{': ' + detail if detail else ''})"
        hint = hint.format(op=op)
    elif isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        what = f"cannot reach AWS KMS at {where}: {_printable(exc)}"
        hint = (
            "check network access to KMS (proxy, firewall, VPC endpoint) and the endpoint "
            "(the recipient's ?endpoint=, AWS_ENDPOINT_URL_KMS, ~/.aws/config)"
        )
    elif isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        what = f"no usable AWS credentials: {exc}"
        hint = "set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or use an instance role"
    elif isinstance(exc, bx.NoRegionError):
        what = "no AWS region is configured"
        hint = "add ?region=... to the recipient, use a key ARN, or set AWS_REGION"
    elif isinstance(exc, bx.ProfileNotFound):
        what = f"AWS profile not found: {exc}"
        hint = "check ?profile= and ~/.aws/config"
    else:
        what = f"{type(exc).__name__}: {exc}"
        hint = "check the AWS configuration (region, credentials, endpoint)"
    return KmsError(f"AWS KMS {op} with key {key} failed: {what}", hint=hint)


class AwsKmsRecipient:
    """Seals for one KMS key; every KMS failure is fatal (a :class:`KmsError`)."""

    def __init__(self, key: str, settings: KmsSettings | None = None) -> None:
        self.key = key
        self.settings = settings or KmsSettings(arn_region(key))
        self._kms: Any = None

    @classmethod
    def parse(cls, text: str) -> AwsKmsRecipient:
        return cls(*parse_spec(text))

    def encode(self) -> str:
        """The canonical recipient string (as stored in config.json)."""
        s = self.settings
        params = [
            (n, v) for n, v in zip(_PARAMS, (s.region, s.endpoint, s.profile), strict=True) if v
        ]
        query = urllib.parse.urlencode(params, safe=":/")
        return PREFIX + self.key + (f"?{query}" if query else "")

    def describe(self) -> str:
        return self.encode()

    def wrap(self, data_key: bytes, file_id: bytes) -> list[Stanza]:
        if self._kms is None:
            self._kms = _client(self.settings, self.settings.region, self.key, "Encrypt")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self._kms.encrypt(
                KeyId=self.key, Plaintext=data_key, EncryptionContext=encryption_context(file_id)
            )
        except (BotoCoreError, ClientError) as exc:
            raise _failure("Encrypt", self.key, exc, _endpoint(self._kms)) from None
        blob, arn = resp.get("CiphertextBlob"), resp.get("KeyId")
        if (
            not isinstance(blob, bytes)
            or not 1 <= len(blob) <= MAX_BLOB_LEN
            or not isinstance(arn, str)
            or not 1 <= len(arn.encode()) <= MAX_KEY_ID_LEN
        ):
            raise KmsError(
                f"AWS KMS Encrypt with key {self.key} returned an unusable answer "
                f"(ciphertext of {len(blob) if isinstance(blob, bytes) else '?'} bytes, "
                f"key id {arn!r:.100})",
                hint="the endpoint does not behave like AWS KMS; check ?endpoint=",
            )
        return [Stanza(STANZA_TYPE, (self.key.encode(), arn.encode()), blob)]


def _well_formed(s: Stanza) -> bool:
    return (
        s.type == STANZA_TYPE
        and len(s.args) == 2
        and all(1 <= len(a) <= MAX_KEY_ID_LEN for a in s.args)
        and 1 <= len(s.body) <= MAX_BLOB_LEN
    )


class AwsKmsIdentity:
    """Opens ``awskms`` stanzas by asking KMS to Decrypt them.

    The region is the one in the stanza's key ARN (else ``settings.region``,
    else boto3's default); the endpoint is ``settings.endpoint`` or boto3's
    (which honours ``AWS_ENDPOINT_URL_KMS``). KMS is called only when the file
    has an ``awskms`` stanza, so files without one never import boto3.
    ``failure`` holds why KMS could not open the last file (or None).
    """

    def __init__(self, settings: KmsSettings | None = None) -> None:
        self.settings = settings or KmsSettings()
        self.failure: KmsError | None = None
        self._clients: dict[str | None, Any] = {}

    def describe(self) -> str:
        return "AWS KMS (credentials from the AWS default chain)"

    def unwrap(self, stanzas: Sequence[Stanza], file_id: bytes) -> bytes | None:
        self.failure = None
        others = sorted({s.type for s in stanzas if s.type != STANZA_TYPE})
        for s in stanzas:
            if not _well_formed(s):
                continue
            arn = s.args[1].decode("utf-8", "replace")
            if not _KEY_RE.fullmatch(arn):  # also keeps control characters out of messages
                continue
            try:
                key = self._decrypt(arn, s.body, file_id)
            except KmsError as exc:
                if self.failure is None:
                    self.failure = _unseal_failure(exc, others)
                continue
            if key is not None:
                return key
        return None

    def _decrypt(self, arn: str, blob: bytes, file_id: bytes) -> bytes | None:
        region = arn_region(arn) or self.settings.region
        if region not in self._clients:
            self._clients[region] = _client(self.settings, region, arn, "Decrypt")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self._clients[region].decrypt(
                CiphertextBlob=blob, KeyId=arn, EncryptionContext=encryption_context(file_id)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_OPEN:
                return None  # another file's stanza, or a damaged blob: does not open
            raise _failure("Decrypt", arn, exc, _endpoint(self._clients[region])) from None
        except BotoCoreError as exc:
            raise _failure("Decrypt", arn, exc, _endpoint(self._clients[region])) from None
        plain, used = resp.get("Plaintext"), resp.get("KeyId")
        if not isinstance(plain, bytes) or len(plain) != DATA_KEY_LEN or used not in (None, arn):
            return None
        return plain


def _unseal_failure(exc: KmsError, others: list[str]) -> KmsError:
    if others:
        also = (
            f"this file can also be opened by its {', '.join(others)} recipient(s): "
            "pass that identity (-i, --keyring or a passphrase option)"
        )
    else:
        also = ESCROW_HINT
    return KmsError(f"no identity opens this file, and {exc.message}", hint=f"{exc.hint}; {also}")


def describe_stanza(s: Stanza) -> dict[str, object]:
    if len(s.args) == 2 and all(1 <= len(a) <= MAX_KEY_ID_LEN for a in s.args):
        arn = s.args[1].decode("utf-8", "replace")
        return {
            "type": s.type,
            "key": s.args[0].decode("utf-8", "replace"),
            "key_arn": arn,
            "region": arn_region(arn),
        }
    return {"type": s.type, "malformed": True}
