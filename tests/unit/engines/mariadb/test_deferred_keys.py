"""CREATE TABLE without its secondary keys, and the ALTER TABLE that adds them back."""

from __future__ import annotations

from dbseal.engines.mariadb.deferred_keys import defer_keys
from dbseal.engines.mariadb.parallel_sink import DumpSplitter

ORDERS = b"""CREATE TABLE `orders` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NOT NULL,
  `order_no` varchar(20) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_no` (`order_no`),
  KEY `fk_cust` (`customer_id`),
  CONSTRAINT `fk_cust` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`),
  CONSTRAINT `chk` CHECK (`customer_id` > 0)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4;
"""


def test_secondary_keys_and_foreign_keys_move_to_an_alter() -> None:
    split = defer_keys(ORDERS)
    assert split is not None
    create, alter = split
    assert create == (
        b"CREATE TABLE `orders` (\n"
        b"  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n"
        b"  `customer_id` int(11) NOT NULL,\n"
        b"  `order_no` varchar(20) NOT NULL,\n"
        b"  PRIMARY KEY (`id`),\n"
        b"  CONSTRAINT `chk` CHECK (`customer_id` > 0)\n"
        b") ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4;\n"
    )
    assert alter == (
        b"ALTER TABLE `orders` ADD UNIQUE KEY `uq_no` (`order_no`), "
        b"ADD KEY `fk_cust` (`customer_id`), ADD CONSTRAINT `fk_cust` FOREIGN KEY "
        b"(`customer_id`) REFERENCES `customers` (`id`);\n"
    )


def test_unusual_tables_are_left_alone() -> None:
    no_pk = ORDERS.replace(b"  PRIMARY KEY (`id`),\n", b"")
    myisam = ORDERS.replace(b"ENGINE=InnoDB", b"ENGINE=MyISAM")
    parted = ORDERS.replace(b"utf8mb4;\n", b"utf8mb4\n PARTITION BY HASH (`id`);\n")
    hashed = ORDERS.replace(b"(`order_no`),", b"(`order_no`) USING HASH,")
    no_keys = b"CREATE TABLE `t` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n"
    for stmt in (no_pk, myisam, parted, no_keys):
        assert defer_keys(stmt) is None, stmt
    split = defer_keys(hashed)
    assert split is not None and b"USING HASH" in split[0] and b"USING HASH" not in split[1]


def test_a_key_over_a_secondary_auto_increment_column_stays() -> None:
    stmt = (
        b"CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `n` int NOT NULL AUTO_INCREMENT,\n"
        b"  PRIMARY KEY (`a`),\n  KEY `k_n` (`n`),\n  KEY `k_a` (`a`)\n) ENGINE=InnoDB;\n"
    )
    split = defer_keys(stmt)
    assert split is not None
    assert b"KEY `k_n`" in split[0] and split[1] == b"ALTER TABLE `t` ADD KEY `k_a` (`a`);\n"


def test_the_splitter_rewrites_a_create_cut_across_blocks() -> None:
    dump = b"-- x\n/*!40101 SET NAMES utf8mb4 */;\nUSE `shop`;\n" + ORDERS + b"-- end\n"
    for cut in (1, 7, 60, 200, len(dump) - 3):
        sp = DumpSplitter(defer=True)
        pieces = [*sp.feed(dump[:cut]), *sp.feed(dump[cut:]), *sp.flush()]
        deferred = [p.deferred for p in pieces if p.deferred is not None]
        assert len(deferred) == 1, cut
        assert deferred[0][0] == ("shop", "orders")
        text = b"".join(p.data for p in pieces)
        assert b"UNIQUE KEY" not in text and b"CHECK (" in text
    plain = DumpSplitter()
    assert b"".join(p.data for p in [*plain.feed(dump), *plain.flush()]).count(b"UNIQUE KEY") == 1
