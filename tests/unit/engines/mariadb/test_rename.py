"""RenameFilter: database names rewritten on exactly the right lines, in any block split."""

from __future__ import annotations

import itertools
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from dbseal.engines.mariadb.rename import RenameFilter

DUMP = """/*M!999999\\- enable the sandbox mode */␣
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: d1
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;

--
-- Current Database: `d1`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `d1` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

USE `d1`;
DROP TABLE IF EXISTS `t`;
CREATE TABLE `t` (
  `id` int(11) NOT NULL DEFAULT nextval(`d1`.`s`),
  `n` int(11) DEFAULT lastval(`d1`.`s`)
) ENGINE=InnoDB;
LOCK TABLES `t` WRITE;
INSERT INTO `t` VALUES
(1,'USE `d1`; -- Current Database: `d1`\\nUSE `d1`;'),
(2,'CREATE DATABASE `d1`');
UNLOCK TABLES;
ALTER DATABASE `d1` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER d1.tr2 AFTER UPDATE ON d1.t FOR EACH ROW SET @x = 1␣
*/;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.id = 1 */;;
DELIMITER ;
ALTER DATABASE `d1` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci ;

--
-- Current Database: `we``ird`
--

CREATE DATABASE /*!32312 IF NOT EXISTS*/ `we``ird` /*!40100 DEFAULT CHARACTER SET latin1 */;

USE `we``ird`;
INSERT INTO `u` VALUES
(1);

--
-- Current Database: `d1`
--

USE `d1`;
/*!50001 VIEW `v` AS select `t`.`id` AS `id` from `t` */;

--
-- Current Database: `we``ird`
--

USE `we``ird`;
/*!50001 VIEW `vx` AS select `d1`.`t`.`id` AS `id` from (`d1`.`t` join `we``ird`.`u`) */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;

-- Dump completed on 2026-11-23 14:48:52
""".replace("␣", " ").encode()  # mariadb-dump writes trailing spaces

MAPPING = {"d1": "new`1", "we`ird": "w2"}


def _run(f: RenameFilter, pieces: list[bytes]) -> bytes:
    return b"".join(f.feed(p) for p in pieces) + f.flush()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_no_mapping_is_the_identity() -> None:
    assert _run(RenameFilter(), [DUMP]) == DUMP
    assert _run(RenameFilter({"d1": "d1"}), [DUMP]) == DUMP


def test_rename_rewrites_the_database_lines_only() -> None:
    out = _run(RenameFilter(MAPPING), [DUMP])
    assert b"-- Current Database: `new``1`\n" in out
    assert b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `new``1` /*!40100" in out
    assert out.count(b"USE `new``1`;\n") == 2
    assert out.count(b"\nALTER DATABASE `new``1` CHARACTER SET") == 2
    assert b"TRIGGER `new``1`.tr2 AFTER UPDATE ON `new``1`.t FOR EACH ROW" in out
    assert b"TRIGGER `tr` BEFORE INSERT ON `t` FOR" in out
    assert b"USE `w2`;\n" in out and b"`w2` /*!40100" in out
    assert b"from (`new``1`.`t` join `w2`.`u`)" in out
    # row data and the header comment are untouched
    assert (
        b"(1,'USE `d1`; -- Current Database: `d1`\\nUSE `d1`;'),\n(2,'CREATE DATABASE `d1`');"
        in out
    )
    assert b"-- Host: 127.0.0.1    Database: d1\n" in out
    assert b"`d1`" not in out.replace(
        b"'USE `d1`; -- Current Database: `d1`\\nUSE `d1`;'", b""
    ).replace(b"'CREATE DATABASE `d1`'", b"")


def test_a_column_default_follows_its_renamed_sequence() -> None:
    out = _run(RenameFilter(MAPPING), [DUMP])
    assert b"  `id` int(11) NOT NULL DEFAULT nextval(`new``1`.`s`),\n" in out
    assert b"  `n` int(11) DEFAULT lastval(`new``1`.`s`)\n" in out


def test_drop_locks_leaves_out_exactly_the_lock_lines() -> None:
    out = _run(RenameFilter(drop_locks=True), [DUMP])
    assert out == DUMP.replace(b"LOCK TABLES `t` WRITE;\n", b"").replace(b"UNLOCK TABLES;\n", b"")
    assert b"LOCK TABLES" not in out
    assert _run(RenameFilter(drop_locks=True), [bytes([b]) for b in DUMP]) == out


def test_fresh_databases_are_created_without_if_not_exists() -> None:
    out = _run(RenameFilter(MAPPING, fresh={"new`1"}), [DUMP])
    assert b"\nCREATE DATABASE `new``1` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n" in out
    assert b"\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `w2` /*!40100" in out
    out = _run(RenameFilter(fresh={"we`ird"}), [DUMP])
    assert b"\nCREATE DATABASE `we``ird` /*!40100" in out
    assert b"\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `d1` /*!40100" in out


def test_only_keeps_the_selected_sections_and_the_footer() -> None:
    f = RenameFilter(None, {"we`ird"})
    out = _run(f, [DUMP])
    assert b"`d1`" not in out.replace(b"`d1`.`t`", b"")
    assert out.count(b"USE `we``ird`;") == 2
    assert out.startswith(DUMP[: DUMP.index(b"-- Current Database")])
    assert out.endswith(
        b"/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\n/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n\n-- Dump completed on 2026-11-23 14:48:52\n"
    )
    assert f.seen == ["d1", "we`ird", "d1", "we`ird"]


def test_only_and_rename_together() -> None:
    out = _run(RenameFilter({"d1": "copy"}, {"d1"}), [DUMP])
    assert b"USE `copy`;" in out and b"ird" not in out.replace(b"we``ird`.`u`", b"")


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(DUMP)), max_size=40),
    mode=st.sampled_from(["rename", "only", "both", "locks", "fresh"]),
)
def test_any_block_split_gives_the_same_output(cuts: list[int], mode: str) -> None:
    def make() -> RenameFilter:
        mapping = MAPPING if mode in ("rename", "both") else None
        only = {"d1"} if mode in ("only", "both") else None
        fresh = {"d1", "w2"} if mode in ("both", "fresh") else None
        return RenameFilter(mapping, only, drop_locks=mode in ("both", "locks"), fresh=fresh)

    assert _run(make(), _split(DUMP, cuts)) == _run(make(), [DUMP])


def test_single_bytes_and_no_final_newline() -> None:
    data = DUMP.rstrip(b"\n") + b"\nUSE `d1`;"
    whole = _run(RenameFilter(MAPPING), [data])
    assert whole.endswith(b"\nUSE `new``1`;")
    assert _run(RenameFilter(MAPPING), [bytes([b]) for b in data]) == whole


def test_big_row_data_streams_fast() -> None:
    row = b"(" + b"1,'" + b"x" * 200 + b"'),\n"
    block = row * ((1 << 20) // len(row))
    f = RenameFilter(MAPPING, {"d1", "we`ird"})
    head = f.feed(DUMP[: DUMP.index(b"INSERT INTO `t`")])
    assert head
    t0 = time.perf_counter()
    total = 0
    for _ in range(64):
        total += len(f.feed(block))
    elapsed = time.perf_counter() - t0
    assert total == 64 * len(block)
    assert elapsed < 2.0, f"64 MiB took {elapsed:.2f} s"
