"""Throwaway TLS material for a sandbox server: one CA, one server and one client certificate.

Everything is generated fresh with ``cryptography`` and written as PEM files (mode 0600) into
a directory the caller owns. The CA private key is never written: nothing more can be signed
once :func:`generate_tls_files` returns.

The server certificate names ``localhost`` and ``127.0.0.1`` by default; pass other
``server_names`` (for example ``["wrong.example"]``) to get a certificate that a client
checking the server's identity must refuse.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

DEFAULT_SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")
DEFAULT_VALIDITY = dt.timedelta(days=7)
_CLOCK_SKEW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files written by :func:`generate_tls_files`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


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
    not_before, not_after = now - _CLOCK_SKEW, now + validity

    ca_key = _new_key(key_type)
    ca_name = _name("dbseal sandbox CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key, ca_key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = _new_key(key_type)
    server_cert = (
        _builder(_name(server_names[0]), ca_name, server_key, ca_key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(rsa_kex=key_type == "rsa"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_general_names(server_names)), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    client_key = _new_key(key_type)
    client_cert = (
        _builder(_name("dbseal-sandbox-client"), ca_name, client_key, ca_key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(rsa_kex=key_type == "rsa"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    files = TLSFiles(
        ca_cert=out / "ca-cert.pem",
        server_cert=out / "server-cert.pem",
        server_key=out / "server-key.pem",
        client_cert=out / "client-cert.pem",
        client_key=out / "client-key.pem",
    )
    _write_private(files.ca_cert, _cert_pem(ca_cert))
    _write_private(files.server_cert, _cert_pem(server_cert))
    _write_private(files.server_key, _key_pem(server_key))
    _write_private(files.client_cert, _cert_pem(client_cert))
    _write_private(files.client_key, _key_pem(client_key))
    return files


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}; use 'ec' or 'rsa'")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dbseal sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    """A builder with the fields every certificate here shares (including both key ids)."""
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


def _key_usage(*, cert_sign: bool = False, rsa_kex: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_kex,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 whatever the umask, never through a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
    finally:
        if fd != -1:
            os.close(fd)
