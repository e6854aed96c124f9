"""Restore a physical (mariadb-backup) chain into a new datadir, all or nothing.

:class:`MariabackupRestorer` is what :func:`dbseal.ops.restore_physical.restore_physical`
drives. Layout while it runs, beside the datadir (same file system, so the end is one
``rename``)::

    PARENT/.NAME.dbseal-staging-XXXX/   0700
        DBSEAL-RESTORE-INCOMPLETE       marker: backup id, pid, start time
        full/  inc_1/ ... inc_N/        ``mbstream -x`` of each chain member
        keys/                           the key files, for prepare (0600)
        *.log                           mbstream's and mariadb-backup's messages

When the datadir is a mount point (it cannot be renamed), the staging directory goes
inside it instead, and the prepared files are moved into it one by one with a
``DBSEAL-RESTORE-INCOMPLETE`` marker in the datadir until the last one is in place.

After ``--prepare`` (full, then each incremental in order) the files mariadb-backup's
``--copy-back`` leaves out (``backup-my.cnf``, the checkpoints) are removed, the tree is
given to the server's user, and ``full/`` is renamed to the datadir: the datadir never
holds a partial restore. Any failure or interrupt removes the staging directory; a
staging directory left by a killed restore (its marker names a dead process) is removed
by the next restore of the same datadir.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbseal.engines.mariadb import keyfile as kf
from dbseal.engines.mariadb import prepare as pr
from dbseal.engines.mariadb.datadir import check_target
from dbseal.engines.mariadb.mbstream_sink import MbstreamSink
from dbseal.engines.mariadb.restore_keys import (
    carries_keys,
    encryption_of,
    key_plugin,
    my_cnf_lines,
)
from dbseal.errors import KeyFileConflict, KeyMaterialMissing, OutputError, UsageError
from dbseal.fsutil import atomic_write
from dbseal.monitoring.reporter import Reporter

MARKER = "DBSEAL-RESTORE-INCOMPLETE"
STAGING_INFIX = ".dbseal-staging-"
# what mariadb-backup --copy-back leaves out of a datadir
NOT_IN_DATADIR = (
    "backup-my.cnf",
    "xtrabackup_checkpoints",
    "mariadb_backup_checkpoints",
)


def default_owner() -> str | None:
    """``mysql`` when running as root and that user exists, else None (no chown)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("mysql")
    except KeyError:
        return None
    return "mysql"


@dataclass
class RestorerOptions:
    """``memory``: --use-memory of prepare; ``owner``: the server's user (None: no chown);
    ``key_file``: the key file to use instead of (or without) the backup's;
    ``key_dir``: where the key files go (default: where the original server had them)."""

    memory: int = field(default_factory=pr.default_memory)
    owner: str | None = None
    key_file: Path | None = None
    key_dir: Path | None = None


class MariabackupRestorer:
    """Restores physical chains into ``datadir`` (see the module text)."""

    def __init__(self, datadir: Path, options: RestorerOptions | None = None) -> None:
        self.datadir = Path(os.path.realpath(datadir))  # a symlink: its target is restored
        self.options = options or RestorerOptions()
        self._tool: str | None = None

    def check(self, chain: Sequence[Mapping[str, Any]]) -> None:
        """Everything that can be known before a byte is written."""
        owner = self.options.owner
        if owner is not None and os.geteuid() != 0 and owner != pwd.getpwuid(os.geteuid()).pw_name:
            raise UsageError(
                f"--user {owner}: giving the datadir to another user needs root",
                hint="run the restore as root, or drop --user (the files are then yours)",
            )
        if owner is not None:
            try:
                pwd.getpwnam(owner)
            except KeyError:
                raise UsageError(
                    f"--user {owner}: no such user on this machine",
                    hint="name the user the restored server runs as (default: mysql)",
                ) from None
        check_target(self.datadir, f".{self.datadir.name}{STAGING_INFIX}")
        self._tool, version = pr.find_tool()
        pr.check_tool(version, chain)
        last = chain[-1]
        if key_plugin(last) == kf.FILE_PLUGIN and not carries_keys(last):
            original = encryption_of(last).get("file_key_management_filename", "")
            key_file = self.options.key_file
            if key_file is not None and not key_file.is_file():
                raise KeyMaterialMissing(f"--key-file {key_file} is not a readable file")
            if key_file is None and not (original and os.path.isfile(original)):
                raise KeyMaterialMissing(
                    f"backup {last.get('id')} is of a server that encrypts data at rest with "
                    "file_key_management, and it does not carry the key file (taken with "
                    f"--no-key-material); {original or 'the key file'} is not on this machine"
                )

    def begin(self, backup: str) -> MariabackupStaging:
        assert self._tool is not None, "check() first"
        return MariabackupStaging(self, backup, self._tool)


class MariabackupStaging:
    """One restore's staging directory; ``discard`` removes it whatever happened."""

    def __init__(self, restorer: MariabackupRestorer, backup: str, tool: str) -> None:
        self._r = restorer
        self._tool = tool
        datadir = restorer.datadir
        self.in_place = datadir.is_dir() and os.path.ismount(datadir)
        parent = datadir if self.in_place else datadir.parent
        self.removed_leftovers = remove_leftovers(parent, datadir.name)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f".{datadir.name}{STAGING_INFIX}", dir=parent))
        except OSError as exc:
            raise OutputError(
                f"cannot create the staging directory in {parent}: {exc.strerror}",
                hint="the restore stages beside the datadir (same file system): make its "
                "parent writable, or choose another --datadir",
            ) from None
        self.secrets: list[str] = []
        marker = {"backup": backup, "pid": os.getpid(), "datadir": str(datadir)}
        marker["started"] = datetime.datetime.now(datetime.UTC).isoformat()
        (self.path / MARKER).write_text(json.dumps(marker) + "\n")
        self.members: list[Path] = []
        self.keys: kf.ExtractedKeys | None = None
        self._key_files: dict[str, Path] = {}

    def member_sink(self, index: int, manifest: Mapping[str, Any]) -> MbstreamSink:
        name = "full" if index == 0 else f"inc_{index}"
        directory = self.path / name
        directory.mkdir(mode=0o700)
        self.members.append(directory)
        return MbstreamSink(directory, self.path / f"mbstream-{name}.log")

    # -- prepare ---------------------------------------------------------------------

    def _take_keys(self) -> None:
        """Move each member's key material out of its data; keep the newest."""
        for i, directory in enumerate(self.members):
            found = directory / kf.KEY_DIR
            if found.is_dir():
                moved = self.path / f"keys-{i}"
                found.rename(moved)
                self.keys = kf.read_extracted(moved) or self.keys
        keys_dir = self.path / "keys"
        keys_dir.mkdir(mode=0o700)
        for role in ("keyfile", "filekey"):
            src = self._r.options.key_file if role == "keyfile" else None
            if src is None and self.keys is not None:
                src = self.keys.file(role)
            if src is not None:
                dest = keys_dir / role
                atomic_write(str(dest), src.read_bytes(), 0o600)
                self._key_files[role] = dest

    def prepare(self, chain: Sequence[Mapping[str, Any]], reporter: Reporter) -> None:
        self._take_keys()
        for directory in self.members:
            pr.point_at_keys(
                directory, self._key_files.get("keyfile"), self._key_files.get("filekey")
            )
        full = self.members[0]
        for i, directory in enumerate(self.members):
            label = "prepare full" if i == 0 else f"apply incremental {i} of {len(chain) - 1}"
            reporter.event("restore.phase", label=label, expected_bytes=None)
            pr.run_prepare(
                self._tool,
                full,
                directory if i else None,
                self._r.options.memory,
                self.path / f"prepare-{directory.name}.log",
                self.secrets,
            )

    # -- install ---------------------------------------------------------------------

    def _key_destinations(self, manifest: Mapping[str, Any]) -> dict[str, Path]:
        """Where each key file goes; refuses to replace a different file."""
        out: dict[str, Path] = {}
        settings = encryption_of(manifest)
        originals = {
            "keyfile": settings.get("file_key_management_filename", ""),
            "filekey": settings.get("file_key_management_filekey", "").removeprefix("FILE:"),
        }
        for role, staged in self._key_files.items():
            original = (self.keys.original_path(role) if self.keys else None) or originals[role]
            if self._r.options.key_dir is not None:
                dest = self._r.options.key_dir / (os.path.basename(original) or role)
            elif original and os.path.isabs(original):
                dest = Path(original)
            else:
                dest = self._r.datadir.parent / f"{self._r.datadir.name}-{role}"
            if dest.exists() and dest.read_bytes() != staged.read_bytes():
                raise KeyFileConflict(
                    f"{dest} exists and differs from the {role} in the backup; "
                    "nothing was written into the datadir"
                )
            out[role] = dest
        return out

    def install(self, chain: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        last = chain[-1]
        full = self.members[0]
        for name in NOT_IN_DATADIR:
            (full / name).unlink(missing_ok=True)
        keys = self._key_destinations(last)
        check_target(
            self._r.datadir, f".{self._r.datadir.name}{STAGING_INFIX}"
        )  # still empty and unused, just before the move
        owner = self._r.options.owner
        ids = _ids(owner)
        written = []
        for role, dest in keys.items():
            if not dest.exists():
                dest.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
                atomic_write(str(dest), self._key_files[role].read_bytes(), 0o600)
                written.append(str(dest))
            if ids is not None:
                os.chown(dest, *ids)
        try:
            if ids is not None:
                _chown_tree(full, ids)
            full.chmod(0o750)
            self._move_into_place(full)
        except BaseException:
            for path in written:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise
        self.discard()
        return {
            "datadir": str(self._r.datadir),
            "owner": owner,
            "key_files": {role: str(p) for role, p in keys.items()},
            "key_files_written": written,
            "my_cnf": my_cnf_lines(self._r.datadir, last, keys),
            "binlog": (last.get("physical") or {}).get("binlog"),
            "removed_leftovers": self.removed_leftovers,
        }

    def _move_into_place(self, full: Path) -> None:
        datadir = self._r.datadir
        if not self.in_place:
            if datadir.is_dir():
                mode = datadir.stat().st_mode & 0o7777
                full.chmod(mode | 0o700)
            os.rename(full, datadir)  # replaces an empty directory atomically
            _fsync_dir(datadir.parent)
            return
        marker = datadir / MARKER
        marker.write_text(json.dumps({"pid": os.getpid()}) + "\n")
        for entry in sorted(os.listdir(full)):
            os.rename(full / entry, datadir / entry)
        _fsync_dir(datadir)
        marker.unlink()

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def remove_leftovers(parent: Path, name: str) -> list[str]:
    """Staging directories of ``name`` whose restore died (marker naming a dead pid)."""
    out = []
    with contextlib.suppress(OSError):
        for entry in parent.glob(f".{name}{STAGING_INFIX}*"):
            try:
                pid = int(json.loads((entry / MARKER).read_text()).get("pid", 0))
            except (OSError, ValueError):
                continue
            if pid > 0 and pid != os.getpid() and _alive(pid):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            out.append(str(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ids(owner: str | None) -> tuple[int, int] | None:
    if owner is None:
        return None
    pw = pwd.getpwnam(owner)
    return pw.pw_uid, pw.pw_gid


def _chown_tree(root: Path, ids: tuple[int, int]) -> None:
    os.chown(root, *ids)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), *ids, follow_symlinks=False)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "MARKER",
    "MariabackupRestorer",
    "MariabackupStaging",
    "RestorerOptions",
    "default_owner",
    "remove_leftovers",
]
