"""References to renamed databases inside objects: rewritten where certain, reported where not."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbseal.engines.mariadb.rename import RenameFilter
from dbseal.engines.mariadb.sqlrefs import SqlMode, rewrite_references
from dbseal.errors import OldReferences

MAP = {b"src": b"cp"}


def rw(text: str, mode: SqlMode | None = None) -> tuple[str, list[str]]:
    done = rewrite_references(text.encode(), MAP, mode or SqlMode())
    return done.text.decode(), done.leftovers


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("SELECT * FROM src.t", "SELECT * FROM `cp`.t"),
        ("SELECT `src`.`t`.id FROM `src` . `t`", "SELECT `cp`.`t`.id FROM `cp` . `t`"),
        ("nextval(`src`.`seq`)", "nextval(`cp`.`seq`)"),
        ("SELECT t.src, x.`src` FROM other.t", "SELECT t.src, x.`src` FROM other.t"),
        ("DEFINER=`src`@`localhost` SET @src = 1", "DEFINER=`src`@`localhost` SET @src = 1"),
        (
            "SELECT 1 -- src.t\n, 2 # src.t\n /* src.t */",
            "SELECT 1 -- src.t\n, 2 # src.t\n /* src.t */",
        ),
        (
            "/*!50003 TRIGGER src.tr BEFORE INSERT ON src.t */",
            "/*!50003 TRIGGER `cp`.tr BEFORE INSERT ON `cp`.t */",
        ),
        ("SELECT srcx.t, `src.t` FROM a_src.t", "SELECT srcx.t, `src.t` FROM a_src.t"),
        (
            "INSERT INTO src VALUES (1); SELECT * FROM src",
            "INSERT INTO src VALUES (1); SELECT * FROM src",
        ),
        ("SHOW TABLES; SELECT * FROM src", "SHOW TABLES; SELECT * FROM src"),
    ],
)
def test_certain_qualifiers_are_rewritten_and_nothing_else(before: str, after: str) -> None:
    assert rw(before) == (after, [])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("SELECT 'src.t'", "`src` in a string literal"),
        ("PREPARE s FROM 'SELECT * FROM src.t'", "`src` in a string literal"),
        (
            'SELECT * FROM information_schema.tables WHERE table_schema = "src"',
            "`src` in a string literal",
        ),
        ("SELECT src.id FROM t AS src", "`src` as a bare name"),
        ("SELECT src.id FROM src", "`src` as a bare name"),
        ("BEGIN SELECT 1; SHOW TABLES FROM src; END", "`src` as a bare name"),
        ("ALTER DATABASE src CHARACTER SET utf8mb4", "`src` as a bare name"),
        ("SELECT 'unterminated src.t", "a literal or comment that does not end in the statement"),
    ],
)
def test_possible_references_that_cannot_be_rewritten_are_reported(text: str, why: str) -> None:
    assert why in rw(text)[1]


def test_the_sql_mode_decides_how_literals_end() -> None:
    # by default \' escapes the quote: src.t is inside a literal, left alone and reported
    text, why = rw("SELECT 'a\\', src.t, 'b'")
    assert text == "SELECT 'a\\', src.t, 'b'" and "`src` in a string literal" in why
    # NO_BACKSLASH_ESCAPES: the literal ends at the second quote and src.t is code
    nbe = SqlMode.parse(b"STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES")
    assert rw("SELECT 'a\\', src.t, 'b'", nbe)[0] == "SELECT 'a\\', `cp`.t, 'b'"
    # ANSI_QUOTES: "src"."t" is an identifier, not a literal
    ansi = SqlMode.parse(b"ANSI_QUOTES")
    assert rw('SELECT * FROM "src"."t"', ansi) == ('SELECT * FROM `cp`."t"', [])
    assert rw('SELECT * FROM "src"."t"')[1] == ["`src` in a string literal"]


DUMP = """-- Current Database: `src`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `src` /*!40100 DEFAULT CHARACTER SET latin1 */;

USE `src`;
CREATE TABLE `t` (
  `id` int(11) NOT NULL DEFAULT nextval(`src`.`seq`),
  `c` varchar(20) DEFAULT 'src.t' COMMENT 'copied from `src`.`t`',
  CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `other`.`p` (`id`),
  CONSTRAINT `fk2` FOREIGN KEY (`id`) REFERENCES `src`.`p` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;
INSERT INTO `t` VALUES (1,'src.t;;\\n CREATE TABLE `src`.`x` ('),(2,'nextval(`src`.`seq`)');
/*!50003 SET sql_mode              = 'NO_BACKSLASH_ESCAPES' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER src.tr BEFORE INSERT ON src.t
FOR EACH ROW SET NEW.c = CONCAT('\\', (SELECT COUNT(*) FROM src.t)) */;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
DELIMITER ;;
/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `ev` ON SCHEDULE EVERY 1 HOUR STARTS '2026-12-07 15:40:56' ON COMPLETION NOT PRESERVE ENABLE DO INSERT INTO src.t (c) VALUES ('ENABLE')␣
*/ ;;
DELIMITER ;
DELIMITER ;;
CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()
BEGIN
  SELECT COUNT(*) FROM `src`.`t`;
  SELECT 'not src.t';
END
;;
DELIMITER ;
/*!50001 VIEW `v` AS select `src`.`t`.`id` AS `id` from `src`.`t` where `src`.`t`.`c` = 'src' */;
-- Dump completed on 2026-11-23 14:48:52
""".replace("␣", " ").encode()


def _run(f: RenameFilter, pieces: list[bytes]) -> bytes:
    return b"".join(f.feed(p) for p in pieces) + f.flush()


def test_a_dump_is_rewritten_object_by_object() -> None:
    f = RenameFilter({"src": "cp"}, allow_old_references=True)
    out = _run(f, [DUMP]).decode()
    assert "DEFAULT nextval(`cp`.`seq`)" in out
    assert "DEFAULT 'src.t' COMMENT 'copied from `src`.`t`'" in out  # data, not references
    assert "REFERENCES `cp`.`p`" in out and "REFERENCES `other`.`p`" in out
    assert "(1,'src.t;;\\n CREATE TABLE `src`.`x` ('),(2,'nextval(`src`.`seq`)')" in out  # rows
    assert (
        "TRIGGER `cp`.tr BEFORE INSERT ON `cp`.t\nFOR EACH ROW SET NEW.c = CONCAT('\\', (SELECT COUNT(*) FROM `cp`.t))"
        in out
    )
    assert "ON COMPLETION NOT PRESERVE DISABLE DO INSERT INTO `cp`.t (c) VALUES ('ENABLE')" in out
    assert "SELECT COUNT(*) FROM `cp`.`t`;\n  SELECT 'not src.t';" in out
    assert "from `cp`.`t` where `cp`.`t`.`c` = 'src'" in out
    assert f.disabled_events == ["cp.ev"]
    assert f.old_references == ["procedure cp.p", "view cp.v"]


def test_unsafe_objects_are_refused_all_at_once_after_a_scan_or_at_the_first_otherwise() -> None:
    scan = RenameFilter({"src": "cp"}).scanner()
    _run(scan, [DUMP])
    with pytest.raises(OldReferences) as e:
        scan.check()
    assert (
        "2 objects would still name a renamed database: procedure cp.p (`src` in a string"
        in e.value.message
    )
    assert "view cp.v (`src` in a string literal); nothing was restored" in e.value.message
    with pytest.raises(OldReferences, match=r"1 object would still .* procedure cp\.p"):
        _run(RenameFilter({"src": "cp"}), [DUMP])


def test_events_keep_their_status_when_asked_or_not_renamed() -> None:
    kept = _run(
        RenameFilter({"src": "cp"}, keep_events_enabled=True, allow_old_references=True), [DUMP]
    )
    assert b"NOT PRESERVE ENABLE DO INSERT INTO `cp`.t" in kept
    other = RenameFilter({"other": "x"})
    assert b"NOT PRESERVE ENABLE DO" in _run(other, [DUMP]) and other.disabled_events == []


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(DUMP)), max_size=30))
def test_any_block_split_gives_the_same_output(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [DUMP[a:b] for a, b in itertools.pairwise([0, *points, len(DUMP)])]

    def make() -> RenameFilter:
        return RenameFilter({"src": "cp"}, allow_old_references=True)

    assert _run(make(), pieces) == _run(make(), [DUMP])
