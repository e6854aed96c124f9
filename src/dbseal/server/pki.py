"""A small certificate authority for receivers and their clients (`dbseal tls init/issue`).

For people without a PKI. One CA directory holds ``ca-cert.pem`` and
``ca-key.pem`` (0600); it signs server certificates (``serverAuth``, DNS and
IP names) and client certificates (``clientAuth``; the name is the CN and a
DNS name, which ``dbseal serve --allow`` matches). All keys are ECDSA P-256,
certificates are signed with SHA-256 and carry both key identifiers, as
strict X.509 checking (which both ends use) requires. Nothing is ever
overwritten.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dbseal.crypto.secret import check_private_file
from dbseal.errors import OutputError, UsageError

CA_CERT, CA_KEY = "ca-cert.pem", "ca-key.pem"
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=730)
_SKEW = dt.timedelta(minutes=5)
_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.\-]{0,61}[A-Za-z0-9])?")

Role = Literal["server", "client"]


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    not_after: dt.datetime


def check_name(name: str, what: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"{what} {name!r} is not a valid name",
            hint="use letters, digits, dots and dashes (a host name), e.g. db1.example.org",
        )
    return name


def init_ca(directory: str | os.PathLike[str], name: str = "dbseal CA") -> Issued:
    """Create a CA in ``directory`` (created 0700 if missing); refuses to replace one."""
    out = Path(directory)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {str(out)!r}: {exc.strerror}") from None
    for f in (CA_CERT, CA_KEY):
        if (out / f).exists():
            raise UsageError(
                f"{out / f} exists: {out} already holds a CA",
                hint="issue certificates with `dbseal tls issue --dir DIR`, or use a new --dir",
            )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dbseal"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        _builder(subject, subject, key.public_key(), now - _SKEW, now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write(out / CA_KEY, _key_pem(key), 0o600)
    _write(out / CA_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return Issued(out / CA_CERT, out / CA_KEY, cert.not_valid_after_utc)


def issue(
    directory: str | os.PathLike[str],
    name: str,
    role: Role,
    *,
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> Issued:
    """Sign a new key pair for ``name`` with the CA in ``directory``.

    Writes ``NAME-cert.pem`` and ``NAME-key.pem`` (0600) into ``out_dir``
    (default: the CA directory). ``not_before``/``not_after`` override the
    validity (tests use them to make expired certificates).
    """
    check_name(name, f"{role} name")
    ca_dir = Path(directory)
    ca_cert, ca_key = _load_ca(ca_dir)
    out = Path(out_dir) if out_dir is not None else ca_dir
    cert_path, key_path = out / f"{name}-cert.pem", out / f"{name}-key.pem"
    for p in (cert_path, key_path):
        if p.exists():
            raise UsageError(f"{p} exists", hint="certificates are never replaced: pick a new name")
    names: list[x509.GeneralName] = []
    for value in (name, *dns):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            names.append(x509.DNSName(check_name(value, "DNS name")))
    for value in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            raise UsageError(f"--ip {value!r} is not an IP address") from None
    now = dt.datetime.now(dt.UTC)
    start = not_before or now - _SKEW
    end = not_after or now + LEAF_VALIDITY
    key = ec.generate_private_key(ec.SECP256R1())
    purpose = (
        ExtendedKeyUsageOID.SERVER_AUTH if role == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    )
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dbseal"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return Issued(cert_path, key_path, cert.not_valid_after_utc)


def _load_ca(ca_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = ca_dir / CA_CERT, ca_dir / CA_KEY
    check_private_file(str(key_path), "CA key")
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise UsageError(
            f"cannot read the CA in {str(ca_dir)!r}: {exc.strerror}",
            hint="create one with `dbseal tls init --dir DIR`",
        ) from None
    except ValueError as exc:
        raise UsageError(f"the CA in {str(ca_dir)!r} is not readable: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"{key_path} is not an ECDSA key made by `dbseal tls init`")
    return cert, key


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _usage(*, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never replace, never through a symlink) with ``mode`` whatever the umask."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as exc:
        raise OutputError(f"cannot create {str(path)!r}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, mode)
        fh.write(data)
