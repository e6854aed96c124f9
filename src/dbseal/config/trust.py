"""Refuse a file that controls dbseal when someone else could have written it.

dbseal.toml names the commands dbseal runs (``password_command``...), so, like ssh's
StrictModes and sudo, the file must be owned by root or the user running dbseal and be
writable by nobody else, and so must every directory above it (a directory writable by
others lets them replace the file), except directories with the sticky bit (/tmp).
"""

from __future__ import annotations

import os
import pwd
import stat

from dbseal.errors import ConfigPermissions


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _check(path: str, st: os.stat_result, what: str) -> None:
    if st.st_uid not in (0, os.geteuid()):
        raise ConfigPermissions(
            f"{what} {path!r} is owned by another user (uid {st.st_uid}); refusing to use it",
            hint=f"run `chown {_user()} {path}`, or use a file you own",
        )
    sticky_dir = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if st.st_mode & 0o022 and not sticky_dir:
        raise ConfigPermissions(
            f"{what} {path!r} has mode {stat.S_IMODE(st.st_mode):04o}: writable by group or "
            "others, who could change the commands dbseal runs; refusing to use it",
            hint=f"run `chmod go-w {path}`",
        )


def _parents(path: str) -> list[str]:
    out = []
    while path != os.path.dirname(path):
        path = os.path.dirname(path)
        out.append(path)
    return out


def check_trusted_file(path: str, what: str = "config file") -> None:
    """Raise ConfigPermissions unless ``path`` and its directories are safe (see module doc).

    Both the directories of the path as given and of the file it resolves to (symlinks)."""
    real = os.path.realpath(path)
    try:
        _check(path, os.stat(real), what)
    except FileNotFoundError:
        return  # reported by the reader, with the reader's message
    dirs = dict.fromkeys(_parents(os.path.abspath(path)) + _parents(real))
    for parent in dirs:
        _check(parent, os.stat(parent), f"directory of the {what}")
