"""Restore under other database names, or only some databases: a streaming filter on a dump.

mariadb-dump ``--databases`` output names each database on a few lines that begin a
line, and never puts a raw newline inside row data (it escapes it), so rewriting whole
lines that start with known prefixes is safe:

* ``-- Current Database: `old``` starts a section (each database has one for its tables
  and routines, and one more near the end for its views);
* ``CREATE DATABASE /*!32312 IF NOT EXISTS*/ `old` ...``, ``USE `old`;``;
* ``ALTER DATABASE `old` CHARACTER SET ...`` around routines and events whose database
  collation differs from today's;
* ``/*!50001 VIEW `v` AS select ... `old`.`t` ...`` (a view's definition names its tables
  with their database when it uses more than one database): every ```old``.`` becomes
  ```new``.``;
* ``/*!50003 CREATE*/ ... TRIGGER old.tr BEFORE INSERT ON old.t ...``: a trigger keeps the
  text it was created with, so a database named in its name or table is rewritten (without
  that, the restore would create the trigger in the *old* database).
* ``  `id` int NOT NULL DEFAULT nextval(`old`.`seq`)``: a column whose default takes the
  next value of a sequence names the sequence with its database; ``nextval(`old`.`` and
  ``lastval(`old`.`` on a line that begins with a column name become the new name
  (without that, the copy would draw its numbers from the *old* database's sequence).

Not rewritten: database names written inside the bodies of routines, triggers and events
(``SELECT * FROM old.t``); they keep pointing at the old name.

With ``fresh`` (names as restored), the ``CREATE DATABASE`` of those databases loses its
``IF NOT EXISTS``: a database created by someone else after ``ops.restore`` found the name
free (or dropped it for ``--replace``) then stops the restore (``ERROR 1007 ... database
exists``) instead of receiving the backup's tables.

With ``drop_locks``, the dump's ``LOCK TABLES ... WRITE;`` and ``UNLOCK TABLES;`` lines are
left out: while a table is locked, only the locked tables can be opened, and a table whose
column default is ``nextval()`` of a sequence then fails with ``ERROR 1100 ... was not locked
with LOCK TABLES`` (the parallel restore drops these lines too).

With ``only``, everything from a ``-- Current Database:`` line of another database up to
the next such line (or the dump's closing ``SET ... @OLD_...`` lines) is left out.

The filter works on blocks (1 MiB in practice): it looks for ``\\n`` + prefix with
``bytes.find`` and copies everything else through untouched, so row data is never walked
line by line; a line cut by a block boundary is carried over to the next block. Feeding
the same stream in any split gives the same output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set

from dbseal.errors import RestoreFailed

MAX_REWRITTEN_LINE = 16 << 20
_CURDB = b"-- Current Database: "
_CREATE = b"CREATE DATABASE "
_USE = b"USE "
_ALTER = b"ALTER DATABASE "
_VIEW = b"/*!50001 VIEW "
_TRIGGER = b"/*!50003 CREATE*/ "
_COLUMN = b"  `"
_LOCK = b"LOCK TABLES "
_UNLOCK = b"UNLOCK TABLES;"
_SEQUENCE_CALLS = (b"nextval(", b"lastval(")
_FOOTERS = (b"/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE", b"/*!40101 SET SQL_MODE=@OLD_SQL_MODE")
_IF_NOT_EXISTS = b"/*!32312 IF NOT EXISTS*/ "
_PARTIAL = b"\0partial"
_ID = rb"(?:`(?:[^`]|``)+`|[0-9A-Za-z_$\x80-\xff]+)"
_TRIGGER_HEAD = re.compile(
    rb"(TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?)(?:(" + _ID + rb")\s*\.\s*)?(" + _ID + rb")"
    rb"(\s+(?:BEFORE|AFTER)\s+(?:INSERT|UPDATE|DELETE)\s+ON\s+)(?:(" + _ID + rb")\s*\.\s*)?",
    re.IGNORECASE,
)


def quote_name(name: bytes) -> bytes:
    return b"`" + name.replace(b"`", b"``") + b"`"


def _unquote(ident: bytes) -> bytes:
    if ident.startswith(b"`") and ident.endswith(b"`"):
        return ident[1:-1].replace(b"``", b"`")
    return ident


def _quoted_at(line: bytes, start: int) -> tuple[bytes, int] | None:
    """The backquoted identifier starting at ``line[start]`` and the index after it."""
    if not line.startswith(b"`", start):
        return None
    i = start + 1
    while True:
        j = line.find(b"`", i)
        if j < 0:
            return None
        if line.startswith(b"``", j):
            i = j + 2
            continue
        return line[start + 1 : j].replace(b"``", b"`"), j + 1


class RenameFilter:
    """``feed(block) -> bytes`` then ``flush() -> bytes``; renames and selects databases.

    ``mapping`` maps names in the dump to names to create; ``only`` (names in the dump)
    keeps just those databases. Either may be None. ``drop_locks`` leaves out the
    ``LOCK TABLES`` and ``UNLOCK TABLES`` lines.
    """

    def __init__(
        self,
        mapping: Mapping[str, str] | None = None,
        only: Set[str] | None = None,
        drop_locks: bool = False,
        fresh: Set[str] | None = None,
    ) -> None:
        self._map = {k.encode(): v.encode() for k, v in (mapping or {}).items() if k != v}
        self._only = {n.encode() for n in only} if only is not None else None
        self._fresh = {n.encode() for n in fresh or ()}
        needles = [_CURDB]
        if self._map:
            needles += [_CREATE, _USE, _ALTER, _VIEW, _TRIGGER, _COLUMN]
        if self._only is not None:
            needles += [_CREATE, _USE, _ALTER, *_FOOTERS]
        if drop_locks:
            needles += [_LOCK, _UNLOCK]
        if self._fresh:
            needles += [_CREATE]
        self._needles = tuple(dict.fromkeys(needles))
        self._active = bool(self._map) or self._only is not None or drop_locks or bool(fresh)
        self._carry = b""
        self._mid_line = False
        self._dropping = False
        self.seen: list[str] = []  # databases met, in order (names in the dump)

    # -- streaming -----------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        if not self._active:
            return data
        buf = self._carry + data if self._carry else data
        self._carry = b""
        out: list[bytes] = []
        cache: dict[bytes, int] = {}
        pos, end = 0, len(buf)
        while pos < end:
            if self._mid_line:
                nl = buf.find(b"\n", pos)
                stop = end if nl < 0 else nl + 1
                self._emit(out, buf[pos:stop])
                pos = stop
                self._mid_line = nl < 0
                continue
            kind = self._match(buf, pos)
            if kind is not None:
                nl = buf.find(b"\n", pos)
                if kind is _PARTIAL or nl < 0:
                    if end - pos > MAX_REWRITTEN_LINE:
                        raise RestoreFailed("a line of the dump to rewrite is longer than 16 MiB")
                    self._carry = buf[pos:]
                    break
                out.append(self._line(kind, buf[pos : nl + 1]))
                pos = nl + 1
                continue
            nxt = self._next_line_of_interest(buf, pos, cache)
            if nxt < 0:
                last = buf.rfind(b"\n", pos)
                stop = end if last < 0 else last + 1
                self._emit(out, buf[pos:stop])
                self._mid_line = last < 0
                pos = stop
            else:
                self._emit(out, buf[pos:nxt])
                pos = nxt
        return b"".join(out)

    def flush(self) -> bytes:
        """The end of the stream: an unfinished last line goes out (rewritten if needed)."""
        rest, self._carry = self._carry, b""
        if not rest:
            return b""
        kind = self._match(rest, 0)
        if kind is None or kind is _PARTIAL:
            out: list[bytes] = []
            self._emit(out, rest)
            return b"".join(out)
        return self._line(kind, rest)

    close = flush

    # -- internals -----------------------------------------------------------------

    def _emit(self, out: list[bytes], piece: bytes) -> None:
        if piece and not self._dropping:
            out.append(piece)

    def _match(self, buf: bytes, pos: int) -> bytes | None:
        partial = False
        for needle in self._needles:
            if buf.startswith(needle, pos):
                return needle
            if len(buf) - pos < len(needle) and needle.startswith(buf[pos:]):
                partial = True
        return _PARTIAL if partial else None

    def _next_line_of_interest(self, buf: bytes, pos: int, cache: dict[bytes, int]) -> int:
        best = -1
        for needle in self._needles:
            at = cache.get(needle, -2)
            if at == -1 or (at >= 0 and at + 1 > pos):
                pass
            else:
                at = buf.find(b"\n" + needle, pos)
                cache[needle] = at
            if at >= 0 and (best < 0 or at + 1 < best):
                best = at + 1
        return best

    def _line(self, kind: bytes, line: bytes) -> bytes:
        if kind == _CURDB:
            found = _quoted_at(line, len(_CURDB))
            if found is not None:
                self.seen.append(found[0].decode("utf-8", "replace"))
                if self._only is not None:
                    self._dropping = found[0] not in self._only
            return b"" if self._dropping else self._rename_at(line, len(_CURDB))
        if kind in _FOOTERS:
            self._dropping = False
            return line
        if self._dropping:
            return b""
        if kind == _CREATE:
            optional = line.startswith(_IF_NOT_EXISTS, len(_CREATE))
            at = len(_CREATE) + (len(_IF_NOT_EXISTS) if optional else 0)
            line = self._rename_at(line, at)
            found = _quoted_at(line, at) if optional and self._fresh else None
            if found is not None and found[0] in self._fresh:
                line = _CREATE + line[at:]
            return line
        if kind in (_USE, _ALTER):
            return self._rename_at(line, len(kind))
        if kind == _VIEW:
            for old, new in self._map.items():
                line = line.replace(quote_name(old) + b".", quote_name(new) + b".")
            return line
        if kind == _TRIGGER:
            return _TRIGGER_HEAD.sub(self._trigger_names, line, count=1)
        if kind == _COLUMN:
            for old, new in self._map.items():
                for call in _SEQUENCE_CALLS:
                    line = line.replace(
                        call + quote_name(old) + b".", call + quote_name(new) + b"."
                    )
            return line
        if kind in (_LOCK, _UNLOCK):
            return b""
        return line

    def _rename_at(self, line: bytes, start: int) -> bytes:
        found = _quoted_at(line, start)
        if found is None or found[0] not in self._map:
            return line
        name, after = found
        return line[:start] + quote_name(self._map[name]) + line[after:]

    def _trigger_names(self, m: re.Match[bytes]) -> bytes:
        def qualifier(ident: bytes | None) -> bytes:
            if ident is None:
                return b""
            name = _unquote(ident)
            return (quote_name(self._map[name]) if name in self._map else ident) + b"."

        return m.group(1) + qualifier(m.group(2)) + m.group(3) + m.group(4) + qualifier(m.group(5))
