"""Names and quoting: systemd unit names, ExecStart= words, cron.d file names, cron commands."""

from __future__ import annotations

import hashlib
import re
import shlex

from dbseal.errors import UsageError

_UNIT_SAFE = re.compile(r"[A-Za-z0-9:_.]")
_EXEC_SAFE = re.compile(r"[A-Za-z0-9_./:@+=,-]+")
_CRON_SAFE = re.compile(r"[A-Za-z0-9_-]")


def check_text(value: str, what: str) -> str:
    """Refuse control characters (a newline would start a new directive or cron line)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UsageError(f"{what} {value!r} contains a control character", hint="rename it")
    return value


def systemd_escape(name: str) -> str:
    """``systemd-escape NAME``: ``/`` becomes ``-``, other unsafe bytes (and a leading
    ``.``) become ``\\xNN``, so ``prod-eu`` is ``prod\\x2deu`` and names cannot collide."""
    if not name:
        raise UsageError("an empty source name cannot name a unit")
    out = []
    for i, ch in enumerate(name):
        if ch == "/":
            out.append("-")
        elif _UNIT_SAFE.fullmatch(ch) and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


def exec_word(arg: str) -> str:
    """One ExecStart= word for a literal argument: specifiers (``%``) and variables
    (``$``) are escaped, anything beyond a plain word is double-quoted."""
    check_text(arg, "argument")
    if _EXEC_SAFE.fullmatch(arg):
        return arg
    inner = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{inner}"'


def unit_value(value: str) -> str:
    """A path in a unit setting (LoadCredential=, ReadWritePaths=): ``%`` escaped,
    double-quoted when it holds spaces or quotes."""
    check_text(value, "path")
    value = value.replace("%", "%%")
    if re.search(r"[\s\"'\\]", value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def credential_path(path: str) -> str:
    """The PATH of LoadCredential=ID:PATH: taken verbatim to the end of the line (no
    quoting), only specifiers expand, so only ``%`` is escaped."""
    return check_text(path, "path").replace("%", "%%")


def cron_name(source: str) -> str:
    """A /etc/cron.d file name: only ``[A-Za-z0-9_-]`` (run-parts skips others, dots too);
    a changed name gets a hash of the original so two sources never share a file."""
    plain = "".join(c if _CRON_SAFE.fullmatch(c) else "_" for c in source)
    if plain != source:
        plain += "-" + hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"dbseal-{plain}"


def cron_command(argv: list[str]) -> str:
    """A command for /bin/sh on a cron line; ``%`` means newline to cron, so it is escaped."""
    for arg in argv:
        check_text(arg, "argument")
    return " ".join(shlex.quote(a) for a in argv).replace("%", "\\%")
