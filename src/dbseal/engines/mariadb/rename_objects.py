"""What a renamed restore does to each object of the dump that can name a database.

:class:`~dbseal.engines.mariadb.rename.RenameFilter` hands over whole statements, as mariadb-dump
writes them:

* ``CREATE TABLE ... ;`` (column ``DEFAULT nextval(`db`.`seq`)``, ``REFERENCES `db`.`t```):
  qualifiers rewritten; its literals are data (defaults, comments), never reported;
* ``/*!50001 VIEW ... */;``, ``/*!50003 CREATE*/ ... TRIGGER ... */;;``,
  ``CREATE DEFINER=... PROCEDURE|FUNCTION ... ;;`` and ``/*!50106 CREATE*/ ... EVENT ... ;;``:
  qualifiers rewritten (:func:`~dbseal.engines.mariadb.sqlrefs.rewrite_references`); an object
  whose text still holds an old name that may be a reference is recorded in
  :attr:`ObjectRewriter.old_references` and, unless allowed, refused;
* an event of a renamed database is created ``DISABLE`` (unless ``keep_events_enabled``):
  a copy must not run its source's jobs.

The ``SET sql_mode`` lines before each trigger and routine give the mode its body is read
in (``ANSI_QUOTES``, ``NO_BACKSLASH_ESCAPES``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dbseal.engines.mariadb.sqlrefs import (
    SqlMode,
    disable_event,
    object_named,
    rewrite_references,
    tokenize,
)
from dbseal.errors import OldReferences

_SET_MODE = re.compile(rb"SET\s+sql_mode\s*=\s*'([^']*)'", re.IGNORECASE)
TABLE, VIEW, TRIGGER, ROUTINE, EVENT = "table", "view", "trigger", "routine", "event"


def _text(name: bytes) -> str:
    return name.decode("utf-8", "replace")


class ObjectRewriter:
    """Rewrites one object statement at a time; collects what it disabled and could not fix.

    ``collect`` (the authentication pass) records every unsafe object and lets
    :meth:`check` refuse them all at once; otherwise the first one not allowed raises.
    """

    def __init__(
        self,
        mapping: Mapping[bytes, bytes],
        keep_events_enabled: bool = False,
        allow_old_references: bool = False,
        collect: bool = False,
        final: Mapping[bytes, bytes] | None = None,
    ) -> None:
        self._map = dict(mapping)
        # the user's renames: ``mapping`` may go through internal names (staging databases)
        self._final = {k: v for k, v in (mapping if final is None else final).items() if k != v}
        self._keep_events = keep_events_enabled
        self._allow = allow_old_references
        self._collect = collect
        self._mode = SqlMode()
        self.old_references: list[str] = []  # "procedure new_db.name", in dump order
        self._why: list[str] = []
        self.disabled_events: list[str] = []  # "new_db.event"

    def set_mode(self, line: bytes) -> None:
        """A ``SET sql_mode = ...`` line of the dump; ``= @saved_sql_mode`` goes back to the default."""
        m = _SET_MODE.search(line)
        self._mode = SqlMode.parse(m.group(1)) if m else SqlMode()

    def statement(self, kind: str, text: bytes, db: bytes | None) -> bytes:
        """``text`` (one whole statement of ``kind`` in database ``db``, a dump name) rewritten."""
        if kind == EVENT and db in self._final and not self._keep_events:
            disabled = disable_event(text, tokenize(text, self._mode)[0])
            if disabled is not None:
                text = disabled
                self.disabled_events.append(self._display(text, db, with_kind=False))
        done = rewrite_references(
            text, self._map, self._mode, report=kind != TABLE, watched=self._final.keys()
        )
        if done.leftovers:
            self._unsafe(self._display(text, db), done.leftovers)
        return done.text

    def check(self, after: str = "nothing was restored") -> None:
        """Refuse (:class:`OldReferences`) the unsafe objects met, unless they were allowed."""
        if self.old_references and not self._allow:
            n = len(self.old_references)
            raise OldReferences(
                f"restore refused: {n} object{'s' if n > 1 else ''} would still name a renamed "
                f"database: {'; '.join(self._why)}; {after}"
            )

    # -- internals -----------------------------------------------------------------

    def _unsafe(self, name: str, leftovers: list[str]) -> None:
        self.old_references.append(name)
        self._why.append(f"{name} ({', '.join(leftovers)})")
        if not self._collect:
            self.check("the restore stopped before creating it")

    def _display(self, text: bytes, db: bytes | None, with_kind: bool = True) -> str:
        named = object_named(tokenize(text, self._mode)[0])
        if named is None:
            return f"an object in {_text(self._final.get(db, db) if db else b'?')}"
        kind, qualifier, name = named
        where = qualifier if qualifier is not None else db
        where_new = self._final.get(where, where) if where is not None else b"?"
        label = f"{_text(where_new)}.{_text(name)}"
        if not with_kind:
            return label
        return f"{'procedure' if kind == 'procedure' else kind} {label}"
