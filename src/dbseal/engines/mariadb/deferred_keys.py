"""Secondary indexes and foreign keys created after a table's rows, not maintained row by row.

InnoDB maintains every secondary index of a table with each inserted row (a random B-tree
insert per index per row); ``ALTER TABLE ... ADD KEY`` after the load builds the same index
from sorted runs, several times faster. :func:`defer_keys` takes one ``CREATE TABLE``
statement as ``mariadb-dump`` writes it (``SHOW CREATE TABLE``) and returns it without its
secondary ``KEY``/``UNIQUE KEY`` lines and ``FOREIGN KEY`` constraints, and the ``ALTER
TABLE`` that adds them back, in their order (the server sorts keys the same way for both
statements, so ``SHOW CREATE TABLE`` of the result is the original's).

Only the plain case is rewritten; anything else is left as it is (returns ``None``):
an InnoDB table with a ``PRIMARY KEY`` (without one a ``UNIQUE NOT NULL`` key would be the
clustered index), no partitioning clause, no ``USING HASH`` key, and no key that is the
only one over an ``AUTO_INCREMENT`` column (kept in place). With ``FOREIGN_KEY_CHECKS=0``
(the dump's own session setting) adding the foreign keys afterwards checks no rows.
"""

from __future__ import annotations

_KEY_PREFIXES = (b"  KEY `", b"  UNIQUE KEY `")
_FK = b" FOREIGN KEY "


def _name(line: bytes) -> bytes:
    """The backquoted name at the start of a column line, e.g. ``  `id` int ...``."""
    end = line.find(b"` ", 3)
    return line[2 : end + 1] if line.startswith(b"  `") and end > 0 else b""


def _first_column(key_line: bytes) -> bytes:
    start = key_line.find(b" (`")
    if start < 0:
        return b""
    end = key_line.find(b"`", start + 3)
    return key_line[start + 2 : end + 1]


def defer_keys(stmt: bytes) -> tuple[bytes, bytes] | None:
    """``(create_without_keys, alter_adding_them)`` or None when nothing is (safely) deferred.

    ``stmt`` is one whole statement from ``CREATE TABLE`` up to and including ``;\\n``.
    """
    lines = stmt.split(b"\n")
    if len(lines) < 4 or lines[-1] != b"" or not lines[0].startswith(b"CREATE TABLE `"):
        return None
    head, body, tail = lines[0], lines[1:-2], lines[-2]
    if not head.endswith(b" (") or not tail.startswith(b") ") or not tail.endswith(b";"):
        return None
    if b"ENGINE=InnoDB" not in tail or b"PARTITION" in tail:
        return None
    if not any(ln.startswith(b"  PRIMARY KEY (") for ln in body):
        return None
    auto = {_name(ln) for ln in body if b" AUTO_INCREMENT" in ln and ln.startswith(b"  `")}
    keep: list[bytes] = []
    later: list[bytes] = []
    for ln in body:
        deferrable = (
            ln.startswith(_KEY_PREFIXES)
            and b"USING HASH" not in ln
            and _first_column(ln) not in auto
        ) or (ln.startswith(b"  CONSTRAINT `") and _FK in ln)
        (later if deferrable else keep).append(ln.rstrip(b","))
    if not later:
        return None
    name = head[len(b"CREATE TABLE ") : -len(b" (")]
    create = b"\n".join([head, b",\n".join(keep), tail, b""])
    alter = b"ALTER TABLE " + name + b" " + b", ".join(b"ADD " + d.strip() for d in later)
    return create, alter + b";\n"
