"""Source names: which database server and databases a backup is of.

Many hosts and sources can write into one repository, so every manifest records
``source_name``:

* the dbseal.toml source name, when a named source was backed up
  (`dbseal backup shop` -> ``shop``);
* otherwise a name derived from the source URL: ``HOST:PORT/DB1,DB2`` with the
  databases in the URL's order (``mysql://backup@db1:3306/shop,crm`` ->
  ``db1:3306/shop,crm``); ``HOST:PORT`` alone when the URL names no database (all
  of them); ``localhost`` in place of ``HOST:PORT`` for a Unix socket; an IPv6
  host in brackets. The user is not part of it.

Manifests written before the field existed get ``name`` (a named source), or the
same derivation from the ``source`` facts they recorded, or ``-`` when they
recorded neither.

A backup reference ``NAME:latest`` means the newest good backup of source NAME.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNKNOWN = "-"
LATEST = "latest"


def derive_source_name(source: Mapping[str, Any]) -> str:
    """``HOST:PORT/DB,...`` from a source's recorded facts (``describe()``)."""
    host = source.get("host")
    if host:
        where = f"[{host}]" if ":" in str(host) else str(host)
        if source.get("port") is not None:
            where += f":{source['port']}"
    elif source.get("socket") is not None or "host" in source:
        where = "localhost"
    else:
        return UNKNOWN
    databases = [str(d) for d in source.get("databases") or []]
    return where + ("/" + ",".join(databases) if databases else "")


def source_name(manifest: Mapping[str, Any]) -> str:
    """The source a backup is of, for old manifests too (see the module docstring)."""
    recorded = manifest.get("source_name") or manifest.get("name")
    if recorded:
        return str(recorded)
    facts = manifest.get("source")
    return derive_source_name(facts) if isinstance(facts, Mapping) else UNKNOWN


def split_ref(ref: str) -> tuple[str | None, str]:
    """``shop:latest`` -> (``shop``, ``latest``); any other reference -> (None, ref)."""
    name, sep, rest = ref.rpartition(":")
    if sep and rest == LATEST and name:
        return name, LATEST
    return None, ref
