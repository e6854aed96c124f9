"""Finding, checking and reading dbseal.toml; every problem is one ConfigError line.

Looked up in order: ``--config PATH``, ``$DBSEAL_CONFIG``, ``./dbseal.toml``,
``/etc/dbseal/dbseal.toml``. Relative paths in the file are relative to its directory.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from typing import Any

from dbseal.config.locate import key_line
from dbseal.config.trust import check_trusted_file
from dbseal.errors import ConfigError

SEARCH = ("./dbseal.toml", "/etc/dbseal/dbseal.toml")
_FORBIDDEN = ("password", "passphrase", "secret_value")
_PATH_KEYS = {
    "repository",
    "keyring",
    "keyring_passphrase_file",
    "identity_files",
    "password_file",
    "ssl_ca",
    "ssl_cert",
    "ssl_key",
    "socket",
}
_TOML_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}
_WANT = {"model_type": "a table", "dict_type": "a table"}
_KEYS_HINT = "the keys are listed in README.md, section Configuration"


def find_config(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    env = os.environ.get("DBSEAL_CONFIG")
    if env:
        return env
    for path in SEARCH:
        if os.path.exists(path):
            return path
    return None


def load_config(path: str) -> dict[str, Any]:
    """The validated file as a dict of the keys it sets, relative paths made absolute."""
    check_trusted_file(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path!r}: {exc.strerror}") from None
    text = raw.decode("utf-8", "replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
    _refuse_secrets(doc, path, text, ())
    checked = _validate(doc, path, text)
    base = os.path.dirname(os.path.abspath(path))
    top = _resolve_paths(checked, base)
    top["sources"] = {n: _resolve_paths(t, base) for n, t in checked.get("sources", {}).items()}
    return top


def _where(path: str, text: str, keypath: tuple[str, ...]) -> str:
    line = key_line(text, keypath)
    return f"{path}:{line}" if line else path


def _table(keypath: tuple[str, ...]) -> str:
    return f"[{'.'.join(keypath)}]" if keypath else "the top level"


def _refuse_secrets(doc: dict[str, Any], path: str, text: str, table: tuple[str, ...]) -> None:
    for key, value in doc.items():
        if key in _FORBIDDEN:
            raise ConfigError(
                f"{_where(path, text, (*table, key))}: {'.'.join((*table, key))} is a secret value; "
                "the config file holds only names of files, commands and sealed secrets",
                hint=f"use {key}_file, {key}_command or password_secret; never the value itself",
            )
        if isinstance(value, dict):
            _refuse_secrets(value, path, text, (*table, key))


def _validate(doc: dict[str, Any], path: str, text: str) -> dict[str, Any]:
    from pydantic import ValidationError  # imported only when a config file is read

    from dbseal.config.schema import FileConfig

    try:
        return FileConfig.model_validate(doc).model_dump(exclude_unset=True, exclude_none=True)
    except ValidationError as exc:
        # a union (str | list[str]) reports one error per member: the deepest is the real one
        err = max(exc.errors(), key=lambda e: _depth(tuple(e["loc"]), doc))
        raise _config_error(err, doc, path, text) from None


def _doc_path(loc: tuple[Any, ...], doc: Any) -> tuple[tuple[str, ...], Any, int | None]:
    """The keys of ``loc`` that exist in the document (pydantic adds union-member names),
    the offending value, and the list index inside it if any."""
    keys: list[str] = []
    index = None
    node = doc
    for part in loc:
        if isinstance(node, dict) and part in node:
            keys.append(str(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            index = part
            node = node[part]
    return tuple(keys), node, index


def _depth(loc: tuple[Any, ...], doc: Any) -> int:
    keys, _value, index = _doc_path(loc, doc)
    return len(keys) + (index is not None)


def _config_error(err: Any, doc: dict[str, Any], path: str, text: str) -> ConfigError:
    from dbseal.config.schema import fields_at

    keypath, value, index = _doc_path(tuple(err["loc"]), doc)
    table, key = keypath[:-1], keypath[-1] if keypath else ""
    where = _where(path, text, keypath)
    allowed = fields_at(table)
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        return ConfigError(
            f"{where}: unknown key {key!r} in {_table(table)}{maybe}", hint=_KEYS_HINT
        )
    name = ".".join(keypath) + (f"[{index}]" if index is not None else "")
    if err["type"] == "value_error":
        return ConfigError(f"{where}: {name}: {err['ctx']['error']}", hint=_KEYS_HINT)
    want = allowed.get(key) or _WANT.get(err["type"], err["msg"])
    got = _TOML_TYPES.get(type(value), "a table" if isinstance(value, dict) else "a list")
    if isinstance(value, str) and err["type"] == "literal_error":
        close = difflib.get_close_matches(value, [s.strip("'") for s in _enum(err)], n=1)
        got = f"{value!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    return ConfigError(f"{where}: {name} must be {want}, not {got}", hint=_KEYS_HINT)


def _enum(err: Any) -> list[str]:
    expected = str(err.get("ctx", {}).get("expected", ""))
    return [p.strip() for p in expected.replace(" or ", ",").split(",") if p.strip()]


def _resolve_paths(table: dict[str, Any], base: str) -> dict[str, Any]:
    """Relative paths in the config file are relative to the file's directory."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not os.path.isabs(value) and "://" not in value:
            return os.path.normpath(os.path.join(base, value))
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return {k: fix(v) if k in _PATH_KEYS else v for k, v in table.items() if k != "sources"}
