"""X.509 certificates for TLS: the small CA of `dbseal tls` and throwaway sandbox material.

Two users, one set of certificate rules (both key identifiers, SHA-256, a
critical basic-constraints and key-usage extension, names as SANs), since
strict X.509 checking, which every TLS end in dbseal uses, requires them:

* :func:`init_ca` / :func:`issue`: a CA directory for people without a PKI
  (`dbseal tls init/issue`, used with `dbseal serve`). ``ca-cert.pem`` and
  ``ca-key.pem`` (0600); server certificates (``serverAuth``, DNS and IP
  names) and client certificates (``clientAuth``; the name is the CN and a
  DNS name, which ``dbseal serve --allow`` matches). ECDSA P-256. Nothing is
  ever overwritten.
* :func:`generate_tls_files`: a fresh CA, server and client certificate for a
  sandbox server (:mod:`dbseal.engines.mariadb.sandbox`), written 0600 into a directory the
  caller owns. The CA private key is never written: nothing more can be
  signed once it returns. The server certificate names ``localhost`` and
  ``127.0.0.1`` by default; pass other ``server_names`` (for example
  ``["wrong.example"]``) to get one that a client checking the server's
  identity must refuse.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dbseal.crypto.secret import check_private_file
from dbseal.errors import OutputError, UsageError

CA_CERT, CA_KEY = "ca-cert.pem", "ca-key.pem"
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=730)
_SKEW = dt.timedelta(minutes=5)
_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.\-]{0,61}[A-Za-z0-9])?")

DEFAULT_SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")
DEFAULT_VALIDITY = dt.timedelta(days=7)
_SANDBOX_SKEW = dt.timedelta(hours=1)

Role = Literal["server", "client"]
KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_PURPOSE = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    not_after: dt.datetime


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files written by :func:`generate_tls_files`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


# -- the CA of `dbseal tls` -----------------------------------------------------------------


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
    now = dt.datetime.now(dt.UTC)
    cert = _ca_cert(_name("dbseal", name), key, now - _SKEW, now + CA_VALIDITY, signature=False)
    _write(out / CA_KEY, _key_pem(key), 0o600)
    _write(out / CA_CERT, _cert_pem(cert), 0o644)
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
    names = _general_names((name, *dns), lambda v: check_name(v, "DNS name"))
    for value in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            raise UsageError(f"--ip {value!r} is not an IP address") from None
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _leaf_cert(
        _name("dbseal", name),
        key,
        (ca_cert.subject, ca_key),
        (not_before or now - _SKEW, not_after or now + LEAF_VALIDITY),
        role,
        names,
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, _cert_pem(cert), 0o644)
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


# -- throwaway material for a sandbox server --------------------------------------------------


def generate_tls_files(
    directory: str | os.PathLike[str],
    *,
    server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
    key_type: KeyType = "ec",
    validity: dt.timedelta = DEFAULT_VALIDITY,
) -> TLSFiles:
    """Write a fresh CA, server and client certificate with their keys into ``directory``.

    ``server_names`` become the server certificate's subjectAltName: entries that parse as
    IP addresses are IP names, the others DNS names. ``key_type`` is ``"ec"`` (ECDSA P-256,
    the default: fast to generate) or ``"rsa"`` (RSA 2048). Existing files of the same names
    are replaced. Raises ``ValueError`` if ``server_names`` is empty.
    """
    if not server_names:
        raise ValueError("server_names must name at least one DNS name or IP address")
    out = Path(directory)
    now = dt.datetime.now(dt.UTC)
    validity_range = (now - _SANDBOX_SKEW, now + validity)
    rsa_kex = key_type == "rsa"

    ca_key = _new_key(key_type)
    ca_name = _name("dbseal sandbox", "dbseal sandbox CA")
    ca_cert = _ca_cert(ca_name, ca_key, *validity_range, signature=True)
    issuer = (ca_name, ca_key)
    server_key, client_key = _new_key(key_type), _new_key(key_type)
    server_cert = _leaf_cert(
        _name("dbseal sandbox", server_names[0]),
        server_key,
        issuer,
        validity_range,
        "server",
        _general_names(server_names),
        rsa_kex=rsa_kex,
    )
    client_cert = _leaf_cert(
        _name("dbseal sandbox", "dbseal-sandbox-client"),
        client_key,
        issuer,
        validity_range,
        "client",
        None,
        rsa_kex=rsa_kex,
    )
    files = TLSFiles(
        ca_cert=out / "ca-cert.pem",
        server_cert=out / "server-cert.pem",
        server_key=out / "server-key.pem",
        client_cert=out / "client-cert.pem",
        client_key=out / "client-key.pem",
    )
    for path, data in (
        (files.ca_cert, _cert_pem(ca_cert)),
        (files.server_cert, _cert_pem(server_cert)),
        (files.server_key, _key_pem(server_key)),
        (files.client_cert, _cert_pem(client_cert)),
        (files.client_key, _key_pem(client_key)),
    ):
        _write(path, data, 0o600, replace=True)
    return files


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}; use 'ec' or 'rsa'")


# -- certificate rules shared by both ---------------------------------------------------------


def _name(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_cert(
    name: x509.Name,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    signature: bool,
) -> x509.Certificate:
    """A self-signed CA that signs end-entity certificates only (path length 0)."""
    return (
        _builder(name, name, key, key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True, signature=signature), critical=True)
        .sign(key, hashes.SHA256())
    )


def _leaf_cert(
    subject: x509.Name,
    key: PrivateKey,
    issuer: tuple[x509.Name, PrivateKey],
    validity: tuple[dt.datetime, dt.datetime],
    role: Role,
    names: list[x509.GeneralName] | None,
    *,
    rsa_kex: bool = False,
) -> x509.Certificate:
    """An end-entity certificate for ``role``; ``names`` become its subjectAltName."""
    builder = (
        _builder(subject, issuer[0], key, issuer[1], *validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(encipherment=rsa_kex), critical=True)
        .add_extension(x509.ExtendedKeyUsage([_PURPOSE[role]]), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1], hashes.SHA256())


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    """A builder with the fields every certificate shares (including both key ids)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )


def _usage(
    *, cert_sign: bool = False, signature: bool = True, encipherment: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_names(
    names: Iterable[str], check_dns: Callable[[str], str] | None = None
) -> list[x509.GeneralName]:
    """IP addresses as IP names, the others as DNS names (checked by ``check_dns``)."""
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(check_dns(name) if check_dns else name))
    return out


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int, *, replace: bool = False) -> None:
    """Write ``path`` with ``mode`` whatever the umask, never through a symlink.

    Without ``replace`` an existing file is an error (:class:`OutputError`).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if replace else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if replace:
            raise
        raise OutputError(f"cannot create {str(path)!r}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, mode)
        fh.write(data)
