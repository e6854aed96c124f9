"""TableDigester: per-table digests of the rows in a dump stream, however it is split."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from dbseal.engines.mariadb.tabledigest import EMPTY, TableDigester, comparable


def _head(db: str) -> str:
    return (
        "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n"
        f"-- Current Database: `{db}`\n"
        f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{db}`;\n\n"
        f"USE `{db}`;\n"
    )


def mariadb_dump(tables: dict[str, list[str]], db: str = "shop", per_statement: int = 2) -> bytes:
    """A dump in mariadb-dump's layout: one row per line, ``per_statement`` rows a statement."""
    out = [_head(db)]
    for name, rows in tables.items():
        q = name.replace("`", "``")
        out.append(f"DROP TABLE IF EXISTS `{q}`;\nCREATE TABLE `{q}` (\n  `id` int\n);\n")
        out.append(f"LOCK TABLES `{q}` WRITE;\n")
        for i in range(0, len(rows), per_statement):
            out.append(f"INSERT INTO `{q}` VALUES\n" + ",\n".join(rows[i : i + per_statement]))
            out.append(";\n")
        out.append("UNLOCK TABLES;\n")
    out.append("DELIMITER ;;\nCREATE PROCEDURE p() BEGIN\nINSERT INTO `log` VALUES (1);\n")
    out.append("INSERT INTO `customers` VALUES\n(9);\nEND ;;\nDELIMITER ;\n")
    out.append("-- Dump completed on 2026-12-01 10:00:00\n")
    return "".join(out).encode()


def mysql_dump(tables: dict[str, list[str]], db: str = "shop", per_statement: int = 2) -> bytes:
    """MySQL's mysqldump layout: a whole statement on one line."""
    out = [_head(db)]
    for name, rows in tables.items():
        for i in range(0, len(rows), per_statement):
            out.append(f"INSERT INTO `{name}` VALUES " + ",".join(rows[i : i + per_statement]))
            out.append(";\n")
    out.append("-- Dump completed on 2026-12-01 10:00:00\n")
    return "".join(out).encode()


def digest(data: bytes, cuts: list[int] | None = None, **kw: dict[str, str]) -> dict:
    d = TableDigester(**kw)  # type: ignore[arg-type]
    pos = 0
    for cut in sorted(cuts or []):
        d.feed(data[pos:cut])
        pos = cut
    d.feed(data[pos:])
    return d.digests()


ROWS = {
    "customers": ["(1,'Ann','a;b')", "(2,'Bob',NULL)", "(3,'C\\'d','x\\ny')", "(4,'',0x00FF)"],
    "orders": ["(10,1,12.50)", "(11,2,0.00)", "(12,1,-1.25)"],
    "we`ird": ["(1)"],
}
row = st.from_regex(
    r"\((?:[0-9]{1,3}|'(?:[a-z;,()]|\\[n'\\])*'|NULL)(?:,(?:[0-9]{1,3}|NULL))*\)", fullmatch=True
)


def test_rows_as_printed_joined_into_one_statement() -> None:
    got = digest(mariadb_dump(ROWS))
    want = hashlib.sha256(",\n".join(ROWS["customers"]).encode()).digest()[:8]
    assert got[("shop", "customers")] == int.from_bytes(want, "big")
    assert set(got) == {("shop", "customers"), ("shop", "orders"), ("shop", "we`ird")}
    assert int.from_bytes(hashlib.sha256(b"").digest()[:8], "big") == EMPTY


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(row, min_size=1, max_size=30),
    per=st.integers(1, 7),
    cuts=st.lists(st.integers(0, 4000), max_size=12),
)
def test_any_split_and_any_grouping_into_statements_give_the_same_digest(
    rows: list[str], per: int, cuts: list[int]
) -> None:
    one = digest(mariadb_dump({"t": rows}, per_statement=len(rows)))
    data = mariadb_dump({"t": rows}, per_statement=per)
    assert digest(data, [c % (len(data) + 1) for c in cuts]) == one


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(row, min_size=1, max_size=20), cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_mysql_single_line_statements(rows: list[str], cuts: list[int]) -> None:
    data = mysql_dump({"t": rows}, per_statement=3)
    got = digest(data, [c % (len(data) + 1) for c in cuts])
    want = hashlib.sha256(",".join(rows).encode()).digest()[:8]
    assert got == {("shop", "t"): int.from_bytes(want, "big")}


def test_a_changed_value_a_lost_row_and_a_duplicate_all_change_the_digest() -> None:
    base = digest(mariadb_dump(ROWS))[("shop", "customers")]
    changed = dict(ROWS, customers=[*ROWS["customers"][:-1], "(4,'',0x00FE)"])
    lost = dict(ROWS, customers=ROWS["customers"][:-1])
    doubled = dict(ROWS, customers=[*ROWS["customers"], ROWS["customers"][-1]])
    swapped = dict(ROWS, customers=ROWS["customers"][::-1])
    others = {
        digest(mariadb_dump(t))[("shop", "customers")] for t in (changed, lost, doubled, swapped)
    }
    assert len(others) == 4 and base not in others
    assert (
        digest(mariadb_dump(changed))[("shop", "orders")]
        == digest(mariadb_dump(ROWS))[("shop", "orders")]
    )


def test_a_column_list_in_the_head_is_not_part_of_the_rows() -> None:
    plain = mysql_dump({"t": ["(1,2)", "(3,4)"]})
    listed = plain.replace(b"INSERT INTO `t` VALUES", b"INSERT INTO `t` (`a`, `b`) VALUES")
    assert digest(listed) == digest(plain) and len(digest(plain)) == 1


def test_databases_follow_use_lines_and_rename_maps_them_back() -> None:
    data = mariadb_dump({"t": ["(1)"]}, db="d1") + mariadb_dump({"t": ["(2)"]}, db="d2")
    got = digest(data)
    assert set(got) == {("d1", "t"), ("d2", "t")} and got[("d1", "t")] != got[("d2", "t")]
    renamed = data.replace(b"`d1`", b"`dbsv_x_d1`")
    assert digest(renamed, rename={"dbsv_x_d1": "d1"}) == got


def test_a_routine_body_is_not_table_data() -> None:
    """INSERT lines inside a DELIMITER block (a procedure's body) are not table rows."""
    data = mariadb_dump(ROWS)
    assert b"INSERT INTO `log` VALUES (1);" in data
    got = digest(data)
    assert ("shop", "log") not in got
    without = data[: data.index(b"DELIMITER ;;")] + data[data.index(b"DELIMITER ;\n") + 12 :]
    assert got == digest(without)


def test_comparable_only_for_the_same_client_and_server_versions() -> None:
    client = "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"
    server = "10.11.19-MariaDB-0+deb12u1"
    assert comparable(client, server, client, "10.11.6-MariaDB") is None
    why = comparable(client, server, client, "11.4.2-MariaDB")
    assert why is not None and "server (mariadb 10.11)" in why and "(mariadb 11.4)" in why
    mysql = "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"
    assert comparable(mysql, "8.0.36", client, server) is not None
    assert comparable(None, server, client, server) is not None
