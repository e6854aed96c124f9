"""The SQL the statistics run: identifiers quoted, computed columns left out, grant patterns."""

from __future__ import annotations

from dbseal.engines.mariadb.privileges import _like
from dbseal.engines.mariadb.stats import _COMPUTED_COLUMN, TableStat, checksum_sql, compare_stats


def test_checksum_sql_quotes_every_identifier() -> None:
    sql = checksum_sql("my`db", "t`1", ["a", "we`ird col"])
    assert "FROM `my``db`.`t``1`" in sql
    assert "CAST(`we``ird col` AS BINARY)" in sql and "ISNULL(`we``ird col`)" in sql
    assert "SUM(" in sql and "% 18446744073709551616" in sql and "BIT_XOR" not in sql


def test_computed_columns_are_recognised() -> None:
    for extra in (
        "VIRTUAL GENERATED",
        "STORED GENERATED",
        "PERSISTENT GENERATED",
        "ROW START INVISIBLE",
    ):
        assert _COMPUTED_COLUMN.search(extra), extra
    for extra in (
        "",
        "auto_increment",
        "DEFAULT_GENERATED",
        "on update current_timestamp()",
        "INVISIBLE",
    ):
        assert not _COMPUTED_COLUMN.search(extra), extra


def test_grant_patterns() -> None:
    assert _like("shop").match("shop") and not _like("shop").match("shop2")
    assert _like("shop%").match("shop_eu") and _like("sh_p").match("ship")
    assert _like("shop\\_eu").match("shop_eu") and not _like("shop\\_eu").match("shopXeu")
    assert _like("a.b").match("a.b") and not _like("a.b").match("axb")


def test_compare_stats() -> None:
    a = TableStat("d", "t", 3, 42, "md5-sum64")
    assert compare_stats([a], [a]) == []
    assert compare_stats([a], [TableStat("d", "t", 3, 43, "md5-sum64")]) == [
        "table d.t has other data than the dump (checksum differs)"
    ]
    assert compare_stats([a], [TableStat("d", "t", 3, None, "count")]) == []
    assert compare_stats([a], [TableStat("d", "t", 2, 42, "md5-sum64")]) == [
        "table d.t has 2 rows, the dump had 3"
    ]
    assert compare_stats([a], [TableStat("d", "u", 0, 0, "md5-sum64")]) == [
        "table d.t is missing",
        "table d.u was not in the dump",
    ]
