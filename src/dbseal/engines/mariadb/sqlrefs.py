"""References to renamed databases inside one statement of a dump: rewritten, or reported.

A statement (a ``CREATE TABLE``, a view, a trigger, a routine, an event) is cut into
tokens the way the server reads it: string literals (``'...'``, and ``"..."`` unless
``ANSI_QUOTES``; backslash escapes unless ``NO_BACKSLASH_ESCAPES``), backquoted
identifiers, words, comments (``-- ``, ``#``, ``/* */``; the code inside a versioned
comment ``/*!50003 ... */`` is read as code), and punctuation.

A name is rewritten only where it is certainly a database: an identifier (backquoted
or not) equal to a renamed database and followed by ``.``, and not itself after a
``.`` or next to ``@`` (``db.t``, ```db`.`t```, ``db.t.col``; not ``t.db``, not a definer
```user`@`host```, not ``@var``). It becomes the new name, backquoted.

Where an old name is still there and may be a reference, the statement is *unsafe*
(:attr:`Rewritten.leftovers` says why): inside a string literal (``'db.t'``, dynamic
SQL, ``WHERE table_schema = 'db'``); as a bare word in a text that also uses it as a
qualifier (an alias ``AS db`` or a table named ``db``: then ``db.col`` may have meant
the alias or table, not the database); as a bare word where a database goes
(``ALTER DATABASE db``, ``SHOW TABLES FROM db``); or in a statement that does not end
where the dump says it does. A bare word alone (``INSERT INTO db``, a table named like
its database) is a table, not a reference. Comments are neither rewritten nor reported:
they do nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

_WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$") | frozenset(
    range(0x80, 0x100)
)
_VERSIONED = re.compile(rb"/\*M?!\d*")
_OBJECT_KINDS = (b"TRIGGER", b"PROCEDURE", b"FUNCTION", b"EVENT", b"VIEW", b"TABLE", b"PACKAGE")

WORD, QUOTED, STRING, PUNCT = "word", "quoted", "string", "punct"


def quote_name(name: bytes) -> bytes:
    return b"`" + name.replace(b"`", b"``") + b"`"


@dataclass(frozen=True)
class SqlMode:
    """The two sql_mode flags that change how a statement is cut into tokens."""

    backslash_escapes: bool = True
    ansi_quotes: bool = False

    @classmethod
    def parse(cls, mode: bytes) -> SqlMode:
        flags = {f.strip().upper() for f in mode.split(b",")}
        return cls(
            b"NO_BACKSLASH_ESCAPES" not in flags, b"ANSI_QUOTES" in flags or b"ANSI" in flags
        )


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, QUOTED (an identifier), STRING or PUNCT
    start: int
    end: int
    value: bytes  # a word or identifier's name, a string's raw content, the punctuation


@dataclass
class Rewritten:
    text: bytes
    leftovers: list[str] = field(default_factory=list)  # why old names are still there
    tokens: list[Token] = field(default_factory=list)  # of the input text


def _quoted_end(text: bytes, i: int, quote: int, backslash: bool) -> int:
    """Index after the literal or identifier opened by ``text[i]``; -1 if it never closes."""
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if c == 0x5C and backslash and quote != 0x60:  # \ escapes in strings only
            j += 2
        elif c == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
            else:
                return j + 1
        else:
            j += 1
    return -1


def _comment_end(text: bytes, i: int) -> int:
    """Index after the comment at ``text[i]`` (-1 if it never closes), or ``i`` if there is none."""
    if text.startswith(b"/*", i) and not _VERSIONED.match(text, i):
        j = text.find(b"*/", i + 2)
        return -1 if j < 0 else j + 2
    if text.startswith(b"#", i) or (
        text.startswith(b"--", i) and (i + 2 >= len(text) or text[i + 2] in b" \t\r\n")
    ):
        j = text.find(b"\n", i)
        return len(text) if j < 0 else j + 1
    return i


def tokenize(text: bytes, mode: SqlMode = SqlMode()) -> tuple[list[Token], bool]:
    """The significant tokens of ``text`` (no spaces, no comments); False if a literal,
    identifier or comment is left open at the end."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in b" \t\r\n":
            i += 1
            continue
        end = _comment_end(text, i)
        if end != i:
            if end < 0:
                return out, False
            i = end
            continue
        if c == 0x60 or c == 0x27 or c == 0x22:
            end = _quoted_end(text, i, c, mode.backslash_escapes)
            if end < 0:
                return out, False
            kind = QUOTED if c == 0x60 or (c == 0x22 and mode.ansi_quotes) else STRING
            raw = text[i + 1 : end - 1]
            value = raw.replace(bytes([c, c]), bytes([c])) if kind == QUOTED else raw
            out.append(Token(kind, i, end, value))
            i = end
            continue
        m = _VERSIONED.match(text, i)
        if m:  # /*!50003 ... */: what follows is code
            out.append(Token(PUNCT, i, m.end(), b"/*!"))
            i = m.end()
            continue
        if c in _WORD:
            j = i + 1
            while j < n and text[j] in _WORD:
                j += 1
            out.append(Token(WORD, i, j, text[i:j]))
            i = j
            continue
        width = 2 if text.startswith(b"*/", i) else 1
        out.append(Token(PUNCT, i, i + width, text[i : i + width]))
        i += width
    return out, True


def _is_punct(tokens: list[Token], k: int, value: bytes) -> bool:
    return 0 <= k < len(tokens) and tokens[k].kind == PUNCT and tokens[k].value == value


def _word_in(needle: bytes, haystack: bytes) -> bool:
    at = haystack.find(needle)
    while at >= 0:
        before = haystack[at - 1] if at else 0x20
        after_i = at + len(needle)
        after = haystack[after_i] if after_i < len(haystack) else 0x20
        if before not in _WORD and after not in _WORD:
            return True
        at = haystack.find(needle, at + 1)
    return False


def _database_goes_here(tokens: list[Token], k: int) -> bool:
    """Whether the word at ``tokens[k]`` is where a statement names a database."""
    prev = tokens[k - 1].value.upper() if k and tokens[k - 1].kind == WORD else b""
    if prev in (b"DATABASE", b"SCHEMA"):
        return True
    if prev not in (b"FROM", b"IN"):
        return False
    for j in range(k - 2, -1, -1):  # SHOW ... FROM db, back to the start of the statement
        if tokens[j].kind == PUNCT and tokens[j].value == b";":
            return False
        if tokens[j].kind == WORD and tokens[j].value.upper() == b"SHOW":
            return True
    return False


def rewrite_references(
    text: bytes,
    mapping: Mapping[bytes, bytes],
    mode: SqlMode = SqlMode(),
    report: bool = True,
    watched: Set[bytes] | None = None,
) -> Rewritten:
    """``text`` with every certain database qualifier renamed; ``report=False`` (table
    definitions, whose literals are data) only rewrites. Leftovers are reported for the
    names of ``watched`` only (None: every name of ``mapping``)."""
    tokens, complete = tokenize(text, mode)
    watch = [old for old in mapping if watched is None or old in watched]
    report = report and bool(watch)
    pieces: list[bytes] = []
    leftovers: list[str] = []
    qualifiers: set[bytes] = set()
    bare: list[tuple[int, bytes]] = []
    pos = 0
    for k, tok in enumerate(tokens):
        if tok.kind == STRING:
            for old in watch:
                if report and _word_in(old, tok.value):
                    leftovers.append(f"`{old.decode('utf-8', 'replace')}` in a string literal")
            continue
        if tok.kind not in (WORD, QUOTED) or tok.value not in mapping:
            continue
        if _is_punct(tokens, k - 1, b".") or _is_punct(tokens, k - 1, b"@"):
            continue
        if _is_punct(tokens, k + 1, b"@"):
            continue
        if _is_punct(tokens, k + 1, b"."):
            pieces += [text[pos : tok.start], quote_name(mapping[tok.value])]
            pos = tok.end
            qualifiers.add(tok.value)
        elif report and tok.value in watch:
            bare.append((k, tok.value))
    for k, name in bare:
        if name in qualifiers or _database_goes_here(tokens, k):
            leftovers.append(f"`{name.decode('utf-8', 'replace')}` as a bare name")
    if not complete and report:
        leftovers.append("a literal or comment that does not end in the statement")
    pieces.append(text[pos:])
    return Rewritten(b"".join(pieces), list(dict.fromkeys(leftovers)), tokens)


def object_named(tokens: list[Token]) -> tuple[str, bytes | None, bytes] | None:
    """``(kind, database or None, name)`` of the object a CREATE statement makes."""
    for k, tok in enumerate(tokens):
        if tok.kind != WORD or tok.value.upper() not in _OBJECT_KINDS:
            continue
        kind = tok.value.lower().decode()
        k += 1
        if kind == "package" and k < len(tokens) and tokens[k].value.upper() == b"BODY":
            kind, k = "package body", k + 1
        while (
            k < len(tokens)
            and tokens[k].kind == WORD
            and tokens[k].value.upper()
            in (
                b"IF",
                b"NOT",
                b"EXISTS",
            )
        ):
            k += 1
        if k >= len(tokens) or tokens[k].kind not in (WORD, QUOTED):
            return None
        if _is_punct(tokens, k + 1, b".") and k + 2 < len(tokens):
            return kind, tokens[k].value, tokens[k + 2].value
        return kind, None, tokens[k].value
    return None


def disable_event(text: bytes, tokens: list[Token]) -> bytes | None:
    """``text`` with the ``ENABLE`` of a CREATE EVENT made ``DISABLE``; None if not enabled."""
    seen_event = False
    for tok in tokens:
        if tok.kind != WORD:
            continue
        word = tok.value.upper()
        if word == b"EVENT":
            seen_event = True
        elif seen_event and word == b"DO":
            return None
        elif seen_event and word == b"ENABLE":
            return text[: tok.start] + b"DISABLE" + text[tok.end :]
    return None
