"""Client and server versions: parsing every known --version format, and the policy."""

from __future__ import annotations

import pytest

from dbseal.engines.mariadb.versions import (
    Version,
    compare_versions,
    parse_client_version,
    parse_server_version,
)


@pytest.mark.parametrize(
    ("line", "flavor", "number"),
    [
        (
            "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)",
            "mariadb",
            (10, 11, 19),
        ),
        (
            "mysqldump  Ver 10.19 Distrib 10.6.16-MariaDB, for Linux (x86_64)",
            "mariadb",
            (10, 6, 16),
        ),
        (
            "mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)",
            "mariadb",
            (11, 4, 2),
        ),
        ("mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)", "mysql", (5, 7, 44)),
        (
            "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)",
            "mysql",
            (8, 0, 36),
        ),
        ("mysqldump  Ver 8.4.0 for macos14 on arm64 (Homebrew)", "mysql", (8, 4, 0)),
    ],
)
def test_client_versions(line: str, flavor: str, number: tuple[int, int, int]) -> None:
    v = parse_client_version(line + "\n")
    assert v is not None and (v.flavor, v.number) == (flavor, number)


def test_unknown_client_version() -> None:
    assert parse_client_version("some-dump 1.0") is None
    assert parse_client_version("") is None


@pytest.mark.parametrize(
    ("text", "flavor", "number"),
    [
        ("10.11.19-MariaDB-0+deb12u1", "mariadb", (10, 11, 19)),
        ("11.4.2-MariaDB-log", "mariadb", (11, 4, 2)),
        ("5.5.5-10.6.16-MariaDB", "mariadb", (10, 6, 16)),
        ("8.0.36", "mysql", (8, 0, 36)),
        ("8.0.36-0ubuntu0.22.04.1", "mysql", (8, 0, 36)),
        ("5.7.44-log", "mysql", (5, 7, 44)),
    ],
)
def test_server_versions(text: str, flavor: str, number: tuple[int, int, int]) -> None:
    v = parse_server_version(text)
    assert v is not None and (v.flavor, v.number) == (flavor, number)


MARIA_10_11 = Version("mariadb", (10, 11, 19))
MARIA_11_4 = Version("mariadb", (11, 4, 2))
MARIA_10_11_2 = Version("mariadb", (10, 11, 2))
MYSQL_8 = Version("mysql", (8, 0, 36))


def test_same_or_newer_client_is_fine() -> None:
    assert compare_versions(MARIA_11_4, MARIA_10_11, "refuse").warnings == ()
    # patch level does not count: only major.minor
    verdict = compare_versions(MARIA_10_11_2, MARIA_10_11, "refuse")
    assert verdict.warnings == () and verdict.refuse is None


def test_older_client_warns_or_is_refused() -> None:
    warn = compare_versions(MARIA_10_11, MARIA_11_4, "warn")
    assert warn.refuse is None and "older than the server" in warn.warnings[0]
    refuse = compare_versions(MARIA_10_11, MARIA_11_4, "refuse")
    assert refuse.refuse is not None and "older than the server" in refuse.refuse


def test_flavour_mismatch_is_a_warning_even_under_refuse() -> None:
    verdict = compare_versions(MARIA_10_11, MYSQL_8, "refuse")
    assert verdict.refuse is None
    assert "across flavours" in verdict.warnings[0]


def test_unrecognised_versions_are_a_warning() -> None:
    assert "not recognised" in compare_versions(None, MARIA_10_11, "refuse").warnings[0]
