"""A dbseal repository: config, backups (data + key envelope + log + manifest).

Layout (local backend; other backends use the same names as keys)::

    config.json                 repository id, default recipients, codec, policy
    data/<ID>.dbseal            the sealed dump (stanzas detached)
    envelopes/<ID>.env          its key envelope (a few hundred bytes)
    logs/<ID>.dbseal            the dump tool's stderr, sealed for the same recipients
    manifests/<ID>.json         written last; authenticated
    secrets/<NAME>.dbseal       sealed credentials (`dbseal secret set`)
    verifications/<ID>/<TS>.json  verification records (append-only)
    locks/                      only pruning takes a lock
    inflight/<ID>.json          a running backup's announcement (catalog/inflight.py)

Backup ids are ``YYYYMMDDTHHMMSSZ-<8 hex>``: they sort by time and are unique
across hosts, so many hosts can write into one repository without a shared
index and without coordination.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.chains import chain_problem
from dbseal.catalog.source_names import LATEST, source_name, split_ref
from dbseal.errors import (
    AmbiguousLatest,
    BackupNotFound,
    ObjectNotFound,
    RepositoryError,
    UsageError,
)
from dbseal.storage import Backend, Handle

CONFIG_FORMAT = 1
CONFIG = Handle("config", "config.json")


@dataclass
class Policy:
    require_encryption: bool = True
    min_kdf_memory_kib: int = 65536
    min_kdf_iterations: int = 3
    client_older: str = "warn"  # warn | refuse
    dump_warnings: str = "warn"  # warn | fail
    checksum_max_bytes: int = 1 << 30  # table_checksum=server only
    table_checksum: str = "dump"  # dump | server | off (see dbseal.engines.mariadb.tabledigest)
    max_key_age_days: int = 365  # `dbseal keys status` flags keys older than this for rotation

    def check(self) -> None:
        if self.client_older not in ("warn", "refuse") or self.dump_warnings not in (
            "warn",
            "fail",
        ):
            raise RepositoryError(
                "invalid policy values (client_older: warn|refuse, dump_warnings: warn|fail)"
            )
        if self.table_checksum not in ("dump", "server", "off"):
            raise RepositoryError("invalid policy value (table_checksum: dump|server|off)")


@dataclass
class RepoConfig:
    repository_id: str
    created: str
    codec: str = "zstd:1"  # hides behind the dump on 2 cores (docs/benchmarks.md)
    recipients: list[str] = field(default_factory=list)  # age1... public keys
    keyring: dict[str, str] | None = None  # {"id": hex, "key": name}
    passphrase: bool = False
    policy: Policy = field(default_factory=Policy)

    def to_json(self) -> dict[str, Any]:
        return {
            "dbseal_repository": CONFIG_FORMAT,
            "id": self.repository_id,
            "created": self.created,
            "codec": self.codec,
            "recipients": self.recipients,
            "keyring": self.keyring,
            "passphrase": self.passphrase,
            "policy": vars(self.policy),
        }

    @classmethod
    def from_json(cls, doc: Any) -> RepoConfig:
        if not isinstance(doc, dict) or doc.get("dbseal_repository") != CONFIG_FORMAT:
            raise RepositoryError(
                "config.json is not a dbseal repository config of a supported version"
            )
        try:
            policy = Policy(**doc.get("policy", {}))
            policy.check()
            return cls(
                str(doc["id"]),
                str(doc["created"]),
                str(doc.get("codec", "zstd:3")),
                list(doc.get("recipients", [])),
                doc.get("keyring"),
                bool(doc.get("passphrase", False)),
                policy,
            )
        except (KeyError, TypeError) as exc:
            raise RepositoryError(f"config.json is invalid ({exc})") from None


def new_backup_id(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(4).hex()


def data_handle(bid: str) -> Handle:
    return Handle("data", f"{bid}.dbseal")


def envelope_handle(bid: str) -> Handle:
    return Handle("envelope", f"{bid}.env")


def log_handle(bid: str) -> Handle:
    return Handle("log", f"{bid}.dbseal")


def manifest_handle(bid: str) -> Handle:
    return Handle("manifest", f"{bid}.json")


class Repository:
    def __init__(self, backend: Backend, config: RepoConfig) -> None:
        self.backend, self.config = backend, config

    @classmethod
    def create(cls, backend: Backend, config: RepoConfig) -> Repository:
        if backend.stat(CONFIG) is not None:
            raise RepositoryError(f"{backend.location} is already a dbseal repository")
        backend.prepare()
        backend.put(CONFIG, (json.dumps(config.to_json(), indent=1) + "\n").encode())
        return cls(backend, config)

    @classmethod
    def open(cls, backend: Backend) -> Repository:
        try:
            raw = backend.get(CONFIG)
        except ObjectNotFound:
            raise RepositoryError(
                f"{backend.location} is not a dbseal repository (no config.json)"
            ) from None
        try:
            doc = json.loads(raw)
        except ValueError:
            raise RepositoryError(f"{backend.location}/config.json is damaged") from None
        return cls(backend, RepoConfig.from_json(doc))

    # --- manifests --------------------------------------------------------------------
    def backup_ids(self) -> list[str]:
        return [n[: -len(".json")] for n in self.backend.list("manifest") if n.endswith(".json")]

    def manifest(self, bid: str) -> dict[str, Any]:
        try:
            raw = self.backend.get(manifest_handle(bid))
        except ObjectNotFound:
            raise BackupNotFound(f"no backup {bid!r} in {self.backend.location}") from None
        return mf.decode(raw, bid)

    def manifests(self) -> list[dict[str, Any]]:
        out = []
        for bid in self.backup_ids():
            try:
                out.append(self.manifest(bid))
            except RepositoryError as exc:  # a damaged manifest is listed, not fatal
                out.append({"id": bid, "status": "damaged", "error": exc.message})
        return out

    def resolve(self, ref: str, source: str | None = None) -> str:
        """A backup id from ``ID``, a unique id prefix, ``latest`` or ``NAME:latest``.

        ``latest`` is the newest good backup; ``NAME:latest``, or ``latest`` with
        ``source``, that of one source. A bare ``latest`` in a repository holding good
        backups of several sources is refused (AmbiguousLatest) with the choices. An
        id given with ``source`` must be a backup of that source.
        """
        named, base = split_ref(ref)
        if named is not None:
            if source is not None and source != named:
                raise UsageError(f"{ref!r} and --source {source!r} name different sources")
            source = named
        if base == LATEST:
            return self._latest(source)
        bid = self._by_id(ref)
        if source is not None and (actual := source_name(self.manifest(bid))) != source:
            raise UsageError(
                f"backup {bid} is of source {actual!r}, not {source!r}",
                hint="drop --source, or use NAME:latest or an id of that source",
            )
        return bid

    def latest_by_source(self) -> dict[str, str]:
        """The newest good backup of each source (one whose key envelope still exists)."""
        every = self.manifests()
        lookup = {str(m["id"]): m for m in every}
        # an incremental whose chain is broken (a parent missing or failed) cannot be restored
        good = [
            m
            for m in every
            if m.get("status") in mf.GOOD_STATUSES and chain_problem(lookup, str(m["id"])) is None
        ]
        # newest snapshot first: start time, then id (ids of one second sort at random);
        # a backup whose key envelope is gone (shredded, lost) cannot be `latest`
        good.sort(key=lambda m: (str(m.get("started", "")), str(m["id"])), reverse=True)
        out: dict[str, str] = {}
        for m in good:
            name = source_name(m)
            if name not in out and self.backend.stat(envelope_handle(str(m["id"]))) is not None:
                out[name] = str(m["id"])
        return out

    def _latest(self, source: str | None) -> str:
        latest = self.latest_by_source()
        if source is not None:
            if source not in latest:
                known = ", ".join(sorted(latest)) or "none"
                raise BackupNotFound(
                    f"no successful backup of source {source!r} in {self.backend.location}",
                    hint=f"sources with good backups: {known} (see `dbseal list`)",
                )
            return latest[source]
        if not latest:
            raise BackupNotFound(f"no successful backup in {self.backend.location}")
        if len(latest) > 1:
            choices = ", ".join(f"{name}:latest" for name in sorted(latest))
            raise AmbiguousLatest(
                f"`latest` is ambiguous: {self.backend.location} holds good backups of "
                f"{len(latest)} sources; choose one of {choices}"
            )
        return next(iter(latest.values()))

    def _by_id(self, ref: str) -> str:
        ids = self.backup_ids()
        if ref in ids:
            return ref
        matches = [b for b in ids if b.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise BackupNotFound(f"backup id prefix {ref!r} is ambiguous ({len(matches)} backups)")
        raise BackupNotFound(f"no backup {ref!r} in {self.backend.location}")
