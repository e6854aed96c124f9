"""Per-table digests of a dump's rows, computed from the dump stream as it goes by.

mariadb-dump writes the rows of a table as extended INSERT statements; MariaDB's client
puts one row per line, MySQL's mysqldump a whole statement on one line::

    INSERT INTO `t` VALUES            INSERT INTO `t` VALUES (1,'a'),(2,'b');
    (1,'a'),
    (2,'b');

Row data never holds a raw newline (the client escapes it), so inside a table's rows
``;`` followed by a newline can only end a statement. The digest of a table (method
``dump-sha256``) is SHA-256 over its rows exactly as the client printed them, with the
statements joined into one: the ``INSERT INTO ... VALUES`` heads are left out and every
statement end counts as one more row separator. So it does not depend on how the client
grouped rows into statements (``--net-buffer-length``); the first 64 bits are recorded.

The current database comes from the ``USE `db`;`` lines of ``--databases`` output;
``DELIMITER`` blocks (routine, trigger and event bodies) are skipped, whatever they
contain. A table without rows has the digest of nothing (:data:`EMPTY`).

A restore check dumps the restored tables again with the same client and options and
compares: equal digests mean the server gives back every row, byte for byte as the dump
printed it. The printed form of a value is the server's, so digests are compared only
between dumps made by the same client and server versions (see
:func:`comparable`); otherwise a check falls back to row counts.

:class:`TableDigester` looks for its markers with ``bytes.find`` and hashes row data in
slices, never walking it line by line; feeding a stream in any split gives the same
digests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dbseal.engines.mariadb.stats import TableStat

METHOD: Final = "dump-sha256"
EMPTY = int.from_bytes(hashlib.sha256(b"").digest()[:8], "big")

_USE = b"\nUSE `"
_INSERT = b"\nINSERT INTO `"
_VALUES = b" VALUES"
_DELIM = b"\nDELIMITER "
_DELIM_END = b"\nDELIMITER ;\n"
_MAX_HEAD = 64 << 10  # longer "head" lines are not a client's USE/INSERT lines


@dataclass(frozen=True)
class InsertHead:
    """A client's ``INSERT INTO `t` [(`c`, ...)] VALUES`` head."""

    table: str
    rows_start: int  # index of the first row's "("
    separator: bytes  # what separates two rows: ",\n" (MariaDB) or "," (MySQL)


NEED_MORE = object()  # the block ends before the head can be told


def insert_head(buf: bytes, at: int) -> InsertHead | object | None:
    """The INSERT head whose line starts after the newline at ``buf[at]``; None if not one."""
    found = _ident(buf, at + len(_INSERT))
    if found is None:
        return NEED_MORE
    table, after = found
    if buf[after : after + 2] == b" (":  # a column list (MySQL, generated columns)
        close = buf.find(b") VALUES", after, after + _MAX_HEAD)
        eol = buf.find(b"\n", after, after + _MAX_HEAD)
        if close < 0 or -1 < eol < close:
            return NEED_MORE if close < 0 and eol < 0 else None
        after = close + 1
    if len(buf) < after + len(_VALUES) + 2:
        return NEED_MORE
    tail = buf[after + len(_VALUES) : after + len(_VALUES) + 2]
    if buf[after : after + len(_VALUES)] != _VALUES:
        return None
    if tail == b" (":
        sep = b","
    elif tail[:1] == b"\n":
        sep = b",\n"
    else:
        return None
    return InsertHead(table, after + len(_VALUES) + 1, sep)


def _statement_end(buf: bytes, pos: int) -> int:
    """Index of the next ``;\n`` (a one-byte find is memchr: far faster than a two-byte one)."""
    while (i := buf.find(b";", pos)) >= 0:
        if buf[i + 1 : i + 2] == b"\n":
            return i
        pos = i + 1
    return -1


def _ident(buf: bytes, start: int) -> tuple[str, int] | None:
    """A backquoted identifier whose opening quote is at ``start - 1``: (name, index after it)."""
    i = start
    while True:
        q = buf.find(b"`", i)
        if q < 0:
            return None
        if buf[q + 1 : q + 2] == b"`":
            i = q + 2
            continue
        return buf[start:q].replace(b"``", b"`").decode("utf-8", "surrogateescape"), q + 1


class TableDigester:
    """Feed the dump with :meth:`feed`; :meth:`digests` gives ``{(database, table): int}``.

    ``rename`` maps database names in this stream to the names to report (a restore
    check under other names reports under the dump's names).
    """

    def __init__(self, rename: Mapping[str, str] | None = None) -> None:
        self._rename = dict(rename or {})
        self._carry = b"\n"  # the stream's first line starts after a virtual newline
        self._db: str | None = None
        self._delimited = False
        self._hashers: dict[tuple[str, str], Any] = {}
        self._rows: Any = None  # the hasher of the table whose rows are being read
        self._done: dict[tuple[str, str], int] | None = None

    def feed(self, data: bytes) -> None:
        buf = self._carry + data if self._carry else data
        self._carry = b""
        pos = 0
        while pos < len(buf):
            pos = self._rows_part(buf, pos) if self._rows is not None else self._other(buf, pos)
            if pos < 0:
                return

    def _rows_part(self, buf: bytes, pos: int) -> int:
        end = _statement_end(buf, pos)
        if end < 0:
            stop = len(buf) - 1 if buf.endswith(b";") else len(buf)
            self._rows.update(memoryview(buf)[pos:stop])
            self._carry = buf[stop:]
            return -1
        self._rows.update(memoryview(buf)[pos:end])
        self._rows = None
        return end + 1  # at the newline: the next line is looked at as any other

    def _other(self, buf: bytes, pos: int) -> int:
        if self._delimited:  # a routine, trigger or event body: never table rows
            end = buf.find(_DELIM_END, pos)
            if end < 0:
                self._carry = buf[max(pos, len(buf) - len(_DELIM_END) + 1) :]
                return -1
            self._delimited = False
            return end + len(_DELIM_END) - 1
        use, ins, delim = (buf.find(m, pos) for m in (_USE, _INSERT, _DELIM))
        hits = [i for i in (use, ins, delim) if i >= 0]
        if not hits:
            self._carry = buf[max(pos, len(buf) - len(_INSERT) + 1) :]
            return -1
        at = min(hits)
        if at == ins:
            return self._insert_head(buf, at)
        eol = buf.find(b"\n", at + 1)
        if eol < 0:
            return self._need_more(buf, at)
        if at == delim:
            self._delimited = buf[at + len(_DELIM) : eol].strip() != b";"
            return eol
        found = _ident(buf, at + len(_USE))
        if found is not None and buf[found[1] : eol] == b";":
            self._db = self._rename.get(found[0], found[0])
        return eol

    def _need_more(self, buf: bytes, at: int) -> int:
        """Keep a head line that the block cut, unless it is too long to be one."""
        if len(buf) - at <= _MAX_HEAD:
            self._carry = buf[at:]
            return -1
        return at + 1

    def _insert_head(self, buf: bytes, at: int) -> int:
        head = insert_head(buf, at)
        if head is NEED_MORE:
            return self._need_more(buf, at)
        if head is None:
            return at + 1
        assert isinstance(head, InsertHead)
        key = (self._db or "", head.table)
        hasher = self._hashers.get(key)
        if hasher is None:
            hasher = self._hashers[key] = hashlib.sha256()
        else:
            hasher.update(head.separator)  # the previous statement's end separates two rows
        self._rows = hasher
        return head.rows_start

    def digests(self) -> dict[tuple[str, str], int]:
        """The digest of every table that had rows (others: :data:`EMPTY`). Ends the stream."""
        if self._done is None:
            self._done = {
                key: int.from_bytes(h.digest()[:8], "big") for key, h in self._hashers.items()
            }
        return dict(self._done)


def with_digests(
    counted: Iterable[TableStat], digests: Mapping[tuple[str, str], int]
) -> list[TableStat]:
    """Row counts with each table's digest (:data:`EMPTY` for a table without rows)."""
    return [
        dataclasses.replace(t, checksum=digests.get((t.database, t.table), EMPTY), method=METHOD)
        for t in counted
    ]


def _major_minor(version_line: str | None) -> tuple[str, str] | None:
    """('mariadb'|'mysql', 'X.Y') from a server version or a client's --version line."""
    if not version_line:
        return None
    text = version_line
    flavor = "mariadb" if "mariadb" in text.lower() else "mysql"
    m = re.search(r"Distrib (\d+\.\d+)", text) or re.search(r"(\d+\.\d+)\.\d+", text)
    return (flavor, m.group(1)) if m else None


def comparable(
    backup_client: str | None,
    backup_server: str | None,
    check_client: str | None,
    check_server: str | None,
) -> str | None:
    """None when digests of two dumps can be compared, else why not (one line)."""
    pairs = (
        ("dump client", backup_client, check_client),
        ("server", backup_server, check_server),
    )
    for what, a, b in pairs:
        ma, mb = _major_minor(a), _major_minor(b)
        if ma is None or mb is None or ma != mb:
            return (
                f"the backup's {what} ({' '.join(ma) if ma else 'unknown'}) differs from "
                f"this check's ({' '.join(mb) if mb else 'unknown'}), so values may print "
                "differently; row checksums were not compared, row counts were"
            )
    return None
