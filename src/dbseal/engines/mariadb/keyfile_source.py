"""The seam between a physical backup and the server's key material (one call).

``with_key_material(source, target, password, include)`` wraps a physical backup
source. After the source's own preflight has passed and mariadb-backup runs, it asks the
server for its active key plugin and (``file_key_management``, ``include``) reads the key
files (:func:`dbseal.engines.mariadb.keyfile.collect`; an unreadable key file fails the
backup before any data moves). When mariadb-backup's stream ends, the files are read
again (keys added meanwhile are carried too) and appended as mbstream files; the result
gains a ``key_material`` manifest field (plugin, included, original paths, settings:
never a key).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from dbseal.crypto.secret import Secret
from dbseal.engines.base import BackupResult, BackupRun, BackupSource
from dbseal.engines.mariadb import keyfile as kf
from dbseal.engines.mariadb.connect import connect
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.errors import DbsealError


class _Result:
    """The wrapped run's result, with ``key_material`` in its manifest fields."""

    def __init__(self, inner: BackupResult, material: kf.KeyMaterial | None) -> None:
        self._inner = inner
        self._material = material

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def status(self) -> str:
        return self._inner.status

    @property
    def reasons(self) -> Sequence[str]:
        return self._inner.reasons

    @property
    def stderr(self) -> bytes:
        return self._inner.stderr

    def manifest_fields(self) -> dict[str, Any]:
        extra = getattr(self._inner, "manifest_fields", None)
        out: dict[str, Any] = dict(extra()) if callable(extra) else {}
        out["key_material"] = self._material.describe() if self._material else None
        return out


class _Run:
    """mariadb-backup's stream, then the key material's mbstream files."""

    def __init__(self, inner: BackupRun, source: KeyMaterialSource) -> None:
        self._inner = inner
        self._source = source
        self._tail: bytes | None = None
        self.material = source.collect()

    def __getattr__(self, name: str) -> Any:  # pid, readable(), ...
        return getattr(self._inner, name)

    def read(self, n: int = -1) -> bytes:
        if self._tail is None:
            data = self._inner.read(n)
            if data:
                return data
            self._tail = self._final_material()
        out, self._tail = (self._tail, b"") if n < 0 else (self._tail[:n], self._tail[n:])
        return out

    def _final_material(self) -> bytes:
        with contextlib.suppress(DbsealError):  # else the copy read at the start stands
            self.material = self._source.collect() or self.material
        return self.material.mbstream() if self.material is not None else b""

    def finish(self) -> BackupResult:
        return _Result(self._inner.finish(), self.material)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)


class KeyMaterialSource:
    """A physical backup source whose stream also carries the server's key files."""

    def __init__(
        self, inner: BackupSource, target: MySQLTarget, password: Secret | None, include: bool
    ) -> None:
        self._inner = inner
        self._target = target
        self._password = password
        self.include = include

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def describe(self) -> dict[str, Any]:
        return self._inner.describe()

    def collect(self) -> kf.KeyMaterial | None:
        conn = connect(self._target, self._password)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@datadir")
                row = cur.fetchone()
            return kf.collect(conn, str(row[0]) if row else "", self.include)
        finally:
            conn.close()

    def start(self) -> BackupRun:
        run = self._inner.start()  # the backup's own preflight first
        try:
            return _Run(run, self)
        except BaseException:
            run.__exit__(None, None, None)
            raise


def with_key_material(
    source: BackupSource, target: MySQLTarget, password: Secret | None, include: bool = True
) -> BackupSource:
    """``source`` whose backups carry the key material (see the module text)."""
    return KeyMaterialSource(source, target, password, include)


__all__ = ["KeyMaterialSource", "with_key_material"]
