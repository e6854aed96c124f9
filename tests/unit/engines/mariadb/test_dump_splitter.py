"""DumpSplitter: whole INSERT statements split off, everything else kept in order, any split."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dbseal.engines.mariadb.parallel_sink import DumpSplitter, Piece

DUMP = b"""/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;

--
-- Current Database: `d1`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `d1`;

USE `d1`;
CREATE TABLE `t` (
  `id` int
);
LOCK TABLES `t` WRITE;
/*!40000 ALTER TABLE `t` DISABLE KEYS */;
INSERT INTO `t` VALUES
(1,'a;b'),
(2,'c\\nd');
INSERT INTO `t` VALUES
(3,'INSERT INTO `x` VALUES (1);');
/*!40000 ALTER TABLE `t` ENABLE KEYS */;
UNLOCK TABLES;
DELIMITER ;;
/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON `t` FOR EACH ROW BEGIN
INSERT INTO `log` VALUES (NEW.id);
END */;;
DELIMITER ;

USE `we``ird`;
INSERT INTO `u` (`a`, `b`) VALUES (1,2),(3,4);
-- Dump completed on 2026-12-01 10:00:00
"""
STATEMENTS = [
    (("d1", "t"), b"INSERT INTO `t` VALUES\n(1,'a;b'),\n(2,'c\\nd');\n"),
    (("d1", "t"), b"INSERT INTO `t` VALUES\n(3,'INSERT INTO `x` VALUES (1);');\n"),
    (("we`ird", "u"), b"INSERT INTO `u` (`a`, `b`) VALUES (1,2),(3,4);\n"),
]


def split(data: bytes, cuts: list[int]) -> tuple[list[Piece], DumpSplitter]:
    sp, pieces, pos = DumpSplitter(), [], 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        pieces += sp.feed(data[pos:cut])
        pos = cut
    pieces += sp.feed(data[pos:])
    pieces += sp.flush()
    return pieces, sp


def squeeze(text: bytes) -> bytes:
    """Blank lines do not matter to the client (pieces may repeat a newline)."""
    return b"\n".join(line for line in text.split(b"\n") if line)


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=15))
def test_statements_are_split_off_whole_and_the_rest_stays_in_order(cuts: list[int]) -> None:
    pieces, sp = split(DUMP, cuts)
    assert [(p.rows, p.data) for p in pieces if p.rows] == STATEMENTS
    serial = b"".join(p.data for p in pieces if not p.rows)
    without_rows = DUMP
    for _, statement in STATEMENTS:
        without_rows = without_rows.replace(statement, b"")
    kept = b"\n".join(ln for ln in without_rows.split(b"\n") if b"LOCK TABLES" not in ln)
    assert squeeze(serial) == squeeze(kept)
    assert b"INSERT INTO `log` VALUES (NEW.id);" in serial  # the trigger body stays whole
    assert sp.database == "we`ird"
    assert (
        sp.preamble.lstrip(b"\n").startswith(b"/*M!999999")
        and b"FOREIGN_KEY_CHECKS=0" in sp.preamble
    )
    assert b"CREATE DATABASE" not in sp.preamble and b"USE" not in sp.preamble


def test_rows_of_a_statement_cut_mid_row_wait_for_the_rest() -> None:
    sp = DumpSplitter()
    head = DUMP[: DUMP.index(b"(1,'a;b')") + 4]
    got = list(sp.feed(head))
    assert all(p.rows is None for p in got)
    rest = list(sp.feed(DUMP[len(head) :]))
    assert next(p.data for p in rest if p.rows) == STATEMENTS[0][1]
