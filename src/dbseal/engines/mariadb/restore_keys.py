"""What a physical backup's manifest says about the server's key plugin, and the my.cnf
lines a restored server needs (:mod:`dbseal.engines.mariadb.physical_restore`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def encryption_of(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The key plugin settings recorded from ``backup-my.cnf`` (empty: not encrypted)."""
    physical = manifest.get("physical") or {}
    enc = physical.get("encryption") if isinstance(physical, Mapping) else None
    return {str(k): str(v) for k, v in (enc or {}).items()}


def key_plugin(manifest: Mapping[str, Any]) -> str | None:
    enc = encryption_of(manifest)
    load = enc.get("plugin_load", "") + enc.get("plugin_load_add", "")
    for name in ("file_key_management", "aws_key_management", "hashicorp_key_management"):
        if name in load or any(k.startswith(name) for k in enc):
            return name
    return None


def carries_keys(manifest: Mapping[str, Any]) -> bool:
    km = manifest.get("key_material") or {}
    return bool(isinstance(km, Mapping) and km.get("included"))


def my_cnf_lines(datadir: Path, manifest: Mapping[str, Any], keys: Mapping[str, Path]) -> list[str]:
    """The option lines the restored server needs (datadir, and the key plugin's)."""
    lines = ["[mariadbd]", f"datadir={datadir}"]
    settings = encryption_of(manifest)
    plugin = key_plugin(manifest)
    if plugin is None:
        return lines
    lines.append(f"plugin_load_add={plugin}")
    for key, value in sorted(settings.items()):
        if key in ("plugin_load", "plugin_load_add", "plugin_dir"):
            continue
        if key == "file_key_management_filename" and "keyfile" in keys:
            value = str(keys["keyfile"])
        elif key == "file_key_management_filekey":
            if "filekey" in keys:
                value = f"FILE:{keys['filekey']}"
            elif value and not value.startswith("FILE:"):
                value = "<the filekey your server used>"
            elif not value:
                continue
        lines.append(f"{key}={value}")
    return lines


__all__ = ["carries_keys", "encryption_of", "key_plugin", "my_cnf_lines"]
