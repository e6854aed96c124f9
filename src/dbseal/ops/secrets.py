"""Credentials sealed inside the repository (`dbseal secret set NAME`).

The seeds keep "an encrypted MySQL user and password in the configuration
file"; dbseal keeps them as small sealed files under ``secrets/`` for the
repository's recipients, referenced by name from dbseal.toml or
``--password-secret NAME``. Opening one needs an identity (typically the
host's keyring), never a value on the command line.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from dbseal.catalog.repository import Repository
from dbseal.catalog.secrets import secret_handle
from dbseal.codecs import parse_codec
from dbseal.crypto.recipients import Identity, Recipient
from dbseal.crypto.secret import Secret
from dbseal.errors import NoMatchingKey, ObjectNotFound, RepositoryError
from dbseal.ops.seal import open_sealed, seal_stream


def store_secret(
    repo: Repository, name: str, value: Secret, recipients: Sequence[Recipient]
) -> None:
    out = io.BytesIO()
    seal_stream(
        io.BytesIO(value.reveal()),
        out,
        recipients,
        parse_codec("none"),
        {"kind": "secret", "name": name},
    )
    handle = secret_handle(name)
    exists = repo.backend.stat(handle) is not None
    repo.backend.put(handle, out.getvalue(), overwrite=exists)  # new secrets: create-only


def load_secret(repo: Repository, name: str, identities: Sequence[Identity]) -> Secret:
    try:
        raw = repo.backend.get(secret_handle(name))
    except ObjectNotFound:
        raise RepositoryError(
            f"no secret {name!r} in {repo.backend.location}",
            hint="store it with `dbseal secret set NAME`",
        ) from None
    try:
        header, plain = open_sealed(io.BytesIO(raw), identities)
    except NoMatchingKey as exc:
        raise NoMatchingKey(
            f"the sealed secret {name!r} cannot be opened with the given identities",
            hint="pass -i IDENTITY or --keyring DIR of one of the repository's recipients",
        ) from exc
    if header.label.get("name") != name or header.label.get("kind") != "secret":
        raise RepositoryError(f"the sealed secret stored as {name!r} was sealed as another secret")
    return Secret(b"".join(plain))
