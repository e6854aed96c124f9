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
* whole statements that can name a database (``CREATE TABLE`` up to its ``;``, views,
  triggers, routines and events up to their ``;;``) go to
  :class:`~dbseal.engines.mariadb.rename_objects.ObjectRewriter`: qualified names ``old.x`` in
  column defaults (``nextval(`old`.`seq`)``), foreign keys, view, trigger, routine and
  event texts become ``new.x``; an object where an old name stays and may be a reference
  (a string literal, a bare name) is refused unless allowed; events of a renamed database
  are created disabled unless ``keep_events_enabled``.

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

from collections.abc import Mapping, Set

from dbseal.engines.mariadb import rename_objects as ro
from dbseal.engines.mariadb.sqlrefs import quote_name
from dbseal.errors import RestoreFailed

MAX_REWRITTEN_LINE = 16 << 20
_CURDB = b"-- Current Database: "
_CREATE = b"CREATE DATABASE "
_USE = b"USE "
_ALTER = b"ALTER DATABASE "
_VIEW = b"/*!50001 VIEW "
_TRIGGER = b"/*!50003 CREATE*/ "
_TABLE = b"CREATE TABLE "
_ROUTINE = b"CREATE DEFINER="
_EVENT = b"/*!50106 CREATE*/ "
_SQL_MODE = b"/*!50003 SET sql_mode "
_LOCK = b"LOCK TABLES "
_UNLOCK = b"UNLOCK TABLES;"
_OBJECTS = {
    _TABLE: ro.TABLE,
    _VIEW: ro.VIEW,
    _TRIGGER: ro.TRIGGER,
    _ROUTINE: ro.ROUTINE,
    _EVENT: ro.EVENT,
}
_FOOTERS = (b"/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE", b"/*!40101 SET SQL_MODE=@OLD_SQL_MODE")
_IF_NOT_EXISTS = b"/*!32312 IF NOT EXISTS*/ "
_PARTIAL = b"\0partial"
_ID = rb"(?:`(?:[^`]|``)+`|[0-9A-Za-z_$\x80-\xff]+)"


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
    keeps just those databases. Either may be None. ``final`` (dump names to the names the
    restore ends with) is for a ``mapping`` through internal names, the atomic restore's
    staging databases: only the databases ``final`` renames have their events disabled and
    their old names refused, and reported names are ``final``'s (None: ``mapping``'s). With a mapping, an object that would
    still name an old database raises :class:`~dbseal.errors.OldReferences` unless
    ``allow_old_references``; :meth:`scanner` makes a twin that only collects them, for a
    pass that applies nothing.
    """

    def __init__(
        self,
        mapping: Mapping[str, str] | None = None,
        only: Set[str] | None = None,
        *,
        drop_locks: bool = False,
        fresh: Set[str] | None = None,
        keep_events_enabled: bool = False,
        allow_old_references: bool = False,
        final: Mapping[str, str] | None = None,
        _collect: bool = False,
    ) -> None:
        self._map = {k.encode(): v.encode() for k, v in (mapping or {}).items() if k != v}
        ends = None if final is None else {k.encode(): v.encode() for k, v in final.items()}
        self._only = {n.encode() for n in only} if only is not None else None
        self._fresh = {n.encode() for n in fresh or ()}
        self._args = (mapping, only, keep_events_enabled, allow_old_references, final)
        self.objects = ro.ObjectRewriter(
            self._map, keep_events_enabled, allow_old_references, collect=_collect, final=ends
        )
        self._db: bytes | None = None  # the dump's current database
        needles = [_CURDB]
        if self._map:
            needles += [_CREATE, _USE, _ALTER, *_OBJECTS, _SQL_MODE]
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
                nl = -1 if kind is _PARTIAL else _statement_end(kind, buf, pos)
                if nl < 0:
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
                self._db = found[0]
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
        if kind in (_LOCK, _UNLOCK):
            return b""
        return self._object(kind, line)

    def _rename_at(self, line: bytes, start: int) -> bytes:
        found = _quoted_at(line, start)
        if found is None or found[0] not in self._map:
            return line
        name, after = found
        return line[:start] + quote_name(self._map[name]) + line[after:]

    # -- objects that name databases (rename_objects) --------------------------------

    def _object(self, kind: bytes, text: bytes) -> bytes:
        if kind == _SQL_MODE:
            self.objects.set_mode(text)
            return text
        if kind in _OBJECTS:
            return self.objects.statement(_OBJECTS[kind], text, self._db)
        return text

    def scanner(self) -> RenameFilter:
        """A twin for the authentication pass: same rewrites, collects every unsafe object."""
        mapping, only, keep, allow, final = self._args
        return RenameFilter(
            mapping,
            only,
            keep_events_enabled=keep,
            allow_old_references=allow,
            final=final,
            _collect=True,
        )

    def check(self) -> None:
        """After :meth:`scanner`'s pass: refuse the unsafe objects it met, unless allowed."""
        self.objects.check()

    @property
    def disabled_events(self) -> list[str]:
        return self.objects.disabled_events

    @property
    def old_references(self) -> list[str]:
        return self.objects.old_references


def _statement_end(kind: bytes, buf: bytes, pos: int) -> int:
    """Index of the newline that ends the statement of ``kind`` at ``buf[pos]``; -1 if not in ``buf``."""
    if kind == _TABLE:  # columns and keys, then ") ENGINE=...;" (and partitions) on its own line
        close = buf.find(b"\n)", pos)
        end = -1 if close < 0 else buf.find(b";\n", close)
        return end + 1 if end >= 0 else -1
    if kind in (_TRIGGER, _ROUTINE, _EVENT):  # under DELIMITER ;;
        end = buf.find(b";;\n", pos)
        return end + 2 if end >= 0 else -1
    return buf.find(b"\n", pos)
