"""The line of a key in a TOML text (tomllib gives values, never positions)."""

from __future__ import annotations

import re

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY_PART)


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(dotted))


def key_line(text: str, keypath: tuple[str, ...]) -> int | None:
    """1-based line defining ``keypath`` (a key or a table), else the line of its nearest
    enclosing table or key that is in the file; None when nothing matches."""
    table: tuple[str, ...] = ()
    best, best_len = None, 0
    in_multiline = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        elif in_multiline:
            continue
        if m := _HEADER.match(line):
            table = _parts(m.group(1))
            full = table
        elif m := _ASSIGN.match(line):
            full = table + _parts(m.group(1))
        else:
            continue
        if full[: len(keypath)] == keypath:
            return number  # the key itself, or the first table or key under it
        common = len(full) if keypath[: len(full)] == full else 0
        if common > best_len:
            best, best_len = number, common
    return best
