"""Versions of dump clients and servers, and the policy that compares them.

Client ``--version`` lines look like::

    mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
    mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)
    mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)
    mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)

and servers answer ``SELECT VERSION()`` with ``10.11.19-MariaDB-0+deb12u1`` or
``8.0.36``. Only the same flavour compares: a MariaDB client and a MySQL server (or the
reverse) is a warning of its own, whatever the numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dbseal.engines.mariadb.defaults_file import Flavor

_MARIADB = re.compile(r"(\d+)\.(\d+)\.(\d+)-MariaDB", re.IGNORECASE)
_DISTRIB = re.compile(r"Distrib\s+(\d+)\.(\d+)\.(\d+)")
_VER = re.compile(r"\bVer\s+(\d+)\.(\d+)\.(\d+)")
_PLAIN = re.compile(r"^(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True, order=True)
class Version:
    """A flavour and a (major, minor, patch) number; ``raw`` is the text it came from."""

    flavor: Flavor
    number: tuple[int, int, int]
    raw: str = ""

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.number))}-{'MariaDB' if self.flavor == 'mariadb' else 'MySQL'}"

    @property
    def major_minor(self) -> tuple[int, int]:
        return self.number[0], self.number[1]


def _triple(m: re.Match[str]) -> tuple[int, int, int]:
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse_client_version(text: str) -> Version | None:
    """The version a client's ``--version`` prints, or None if it is not recognised."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if m := _MARIADB.search(line):
        return Version("mariadb", _triple(m), line)
    if m := _DISTRIB.search(line) or _VER.search(line):
        return Version("mysql", _triple(m), line)
    return None


def parse_server_version(text: str) -> Version | None:
    """The version of ``SELECT VERSION()``, or None if it is not recognised."""
    text = text.strip()
    if m := _MARIADB.search(text):
        return Version("mariadb", _triple(m), text)
    if m := _PLAIN.search(text):
        return Version("mysql", _triple(m), text)
    return None


ClientOlder = Literal["warn", "refuse"]


@dataclass(frozen=True)
class VersionVerdict:
    """What the policy says about a client/server pair: ``refuse`` wins over ``warnings``."""

    warnings: tuple[str, ...] = ()
    refuse: str | None = None


def compare_versions(
    client: Version | None, server: Version | None, client_older: ClientOlder
) -> VersionVerdict:
    """Apply the version policy: flavour mismatch warns, an older client warns or refuses."""
    if client is None or server is None:
        what = "client" if client is None else "server"
        return VersionVerdict((f"the {what} version is not recognised; versions not compared",))
    if client.flavor != server.flavor:
        return VersionVerdict(
            (
                f"the dump client is {client.flavor} {client} and the server is "
                f"{server.flavor} {server}: a dump across flavours may miss or mangle objects",
            )
        )
    if client.major_minor >= server.major_minor:
        return VersionVerdict()
    text = (
        f"the dump client {client} is older than the server {server}: it may not know "
        f"everything the server can store"
    )
    if client_older == "refuse":
        return VersionVerdict(refuse=text)
    return VersionVerdict((text,))
