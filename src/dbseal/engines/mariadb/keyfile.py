"""Key material of a server with data-at-rest encryption, carried inside a physical backup.

mariadb-backup copies encrypted tablespaces as they are and records the key plugin's
settings in ``backup-my.cnf``, but not the keys: without the ``file_key_management`` key
file (and its filekey, when the key file is itself encrypted) the backup can be neither
prepared nor started. :func:`collect` reads them on the database host; they are appended
to the backup's mbstream as ordinary mbstream files under :data:`KEY_DIR`
(``index.json`` naming each file's role and original path, then the files), so they are
sealed with the backup's own data key and recipients, authenticated like every other
byte, and extracted by ``mbstream -x`` with the rest. The restore moves that directory
out of the data before prepare (:mod:`dbseal.engines.mariadb.physical_restore`); it never
reaches a datadir.

Other key plugins (``aws_key_management``, ``hashicorp_key_management``) keep their keys
in a service: there is nothing to collect, the manifest records the plugin, and the
restored server needs the service (docs/physical.md).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.errors import KeyMaterialMissing

KEY_DIR = "dbseal-key-material"
INDEX = "index.json"
FORMAT = 1
FILE_PLUGIN = "file_key_management"
MAX_KEY_FILE = 1 << 20  # a key file is a few KB; anything this large is not one
_MAGIC = b"XBSTCK01"
_PLUGINS_SQL = (
    "SELECT PLUGIN_NAME FROM information_schema.PLUGINS "
    "WHERE PLUGIN_TYPE = 'ENCRYPTION' AND PLUGIN_STATUS = 'ACTIVE'"
)


@dataclass(frozen=True)
class KeyFile:
    """One file of key material: its role (``keyfile`` or ``filekey``), where the server
    read it, and its bytes."""

    role: str
    path: str
    data: Secret = field(repr=False)

    @property
    def name(self) -> str:
        return self.role  # its name inside KEY_DIR


@dataclass(frozen=True)
class KeyMaterial:
    """What a backup carries of the server's keys (``files`` empty: nothing to carry)."""

    plugin: str
    files: tuple[KeyFile, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """For the manifest: the plugin and where each file was; never a key."""
        return {
            "plugin": self.plugin,
            "included": bool(self.files),
            "files": [{"role": f.role, "path": f.path} for f in self.files],
            "settings": dict(self.settings),
        }

    def mbstream(self) -> bytes:
        """The mbstream chunks of ``KEY_DIR/index.json`` and each file (empty: no files)."""
        if not self.files:
            return b""
        index = {"dbseal_key_material": FORMAT, **self.describe()}
        index["files"] = [{"role": f.role, "path": f.path, "name": f.name} for f in self.files]
        out = [mbstream_file(f"{KEY_DIR}/{INDEX}", json.dumps(index).encode())]
        out += [mbstream_file(f"{KEY_DIR}/{f.name}", f.data.reveal()) for f in self.files]
        return b"".join(out)


def mbstream_file(path: str, data: bytes) -> bytes:
    """One file as mbstream chunks: a payload chunk (``P``) and its end chunk (``E``)."""
    name = path.encode()
    head = _MAGIC + b"\x00"
    payload = (
        head
        + b"P"
        + struct.pack("<I", len(name))
        + name
        + struct.pack("<QQI", len(data), 0, zlib.crc32(data))
        + data
    )
    return payload + head + b"E" + struct.pack("<I", len(name)) + name


def _read_key_file(path: str, role: str) -> KeyFile:
    try:
        size = os.stat(path).st_size
        if size > MAX_KEY_FILE:
            raise KeyMaterialMissing(f"the {role} {path} is {size} bytes: not a key file")
        with open(path, "rb") as fh:
            return KeyFile(role, path, Secret(fh.read(MAX_KEY_FILE + 1)))
    except OSError as exc:
        raise KeyMaterialMissing(
            f"the server encrypts data at rest with {FILE_PLUGIN}, and its {role} {path} "
            f"cannot be read by dbseal ({exc.strerror}): without it the backup could not "
            "be restored"
        ) from None


def _variables(conn: Any, prefix: str) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES LIKE %s", (prefix.replace("_", "\\_") + "\\_%",))
        return {str(k): str(v if v is not None else "") for k, v in cur.fetchall()}


def _absolute(path: str, datadir: str) -> str:
    return path if os.path.isabs(path) else os.path.join(datadir, path)


def collect(conn: Any, datadir: str, include: bool = True) -> KeyMaterial | None:
    """The active key plugin and, with ``include`` and ``file_key_management``, its files.

    None when the server has no encryption plugin. Raises KeyMaterialMissing when a file
    the server names cannot be read (the backup would be unrestorable elsewhere)."""
    with conn.cursor() as cur:
        cur.execute(_PLUGINS_SQL)
        plugins = [str(r[0]).lower() for r in cur.fetchall()]
    if not plugins:
        return None
    plugin = plugins[0]
    settings = _variables(conn, plugin)
    if plugin != FILE_PLUGIN or not include:
        return KeyMaterial(plugin, (), _public(settings))
    files = []
    filename = settings.get(f"{FILE_PLUGIN}_filename", "")
    if filename:
        files.append(_read_key_file(_absolute(filename, datadir), "keyfile"))
    filekey = settings.get(f"{FILE_PLUGIN}_filekey", "")
    if filekey.startswith("FILE:"):
        files.append(_read_key_file(_absolute(filekey[5:], datadir), "filekey"))
    return KeyMaterial(plugin, tuple(files), _public(settings))


def _public(settings: dict[str, str]) -> dict[str, str]:
    """The settings without a literal filekey (a secret; ``FILE:path`` is kept)."""
    out = dict(settings)
    key = f"{FILE_PLUGIN}_filekey"
    if out.get(key) and not out[key].startswith("FILE:"):
        out[key] = "***"
    return out


@dataclass(frozen=True)
class ExtractedKeys:
    """Key material found in an extracted backup (``directory`` holds the files)."""

    directory: Path
    plugin: str
    files: tuple[dict[str, str], ...]  # role, path (original), name

    def file(self, role: str) -> Path | None:
        for f in self.files:
            if f.get("role") == role:
                return self.directory / f["name"]
        return None

    def original_path(self, role: str) -> str | None:
        for f in self.files:
            if f.get("role") == role:
                return f.get("path")
        return None


def read_extracted(directory: Path) -> ExtractedKeys | None:
    """The key material ``mbstream -x`` wrote into ``directory`` (None: the backup has none)."""
    index = directory / INDEX
    if not index.is_file():
        return None
    doc = json.loads(index.read_text())
    files = tuple(
        {"role": str(f["role"]), "path": str(f["path"]), "name": str(f["name"])}
        for f in doc.get("files") or []
        if str(f.get("name", "")) in ("keyfile", "filekey")  # never a path out of the dir
    )
    return ExtractedKeys(directory, str(doc.get("plugin") or FILE_PLUGIN), files)


__all__ = [
    "FILE_PLUGIN",
    "KEY_DIR",
    "ExtractedKeys",
    "KeyFile",
    "KeyMaterial",
    "collect",
    "mbstream_file",
    "read_extracted",
]
