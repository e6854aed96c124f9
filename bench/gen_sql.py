#!/usr/bin/env python3
"""Deterministic generator of a mysqldump-like SQL stream, for benchmarks.

The output looks like ``mysqldump --extended-insert`` of a small shop
database: the usual header comments and ``/*!40101 SET ... */`` lines, then
for each of ``customers``, ``orders`` and ``order_items`` a ``CREATE TABLE``
and ``INSERT INTO ... VALUES (...),(...),...;`` lines of about 1 MB (the
mysqldump default ``net_buffer_length``), and the ``-- Dump completed on``
marker at the end.

Speed: row values are generated once into pools (a seeded PRNG, no external
data); the stream is then assembled from the pools with C-level operations
(random indices from ``randbytes``, ``itemgetter``, ``bytes %``), so a pipe
can be fed at several hundred MB/s. Each row is made of two independently
chosen halves plus a fresh ascending primary key, so whole-row repeats are
rare; zstd -3 compresses the stream to about 28% (gzip -6: about 34%).

Usage::

    python bench/gen_sql.py --size 500M [-o FILE] [--seed N]

The same ``--size`` and ``--seed`` always give the same bytes.
"""

from __future__ import annotations

import argparse
import datetime
import operator
import random
import re
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

T = TypeVar("T")

LINE_TARGET = 1_000_000  # mysqldump's default net_buffer_length is 1 MiB
POOL_BITS = 16  # row halves are picked with uniform 16-bit indices
POOL_SIZE = 1 << POOL_BITS
MAX_DISTINCT = 1 << 15  # distinct halves per pool; tuned so zstd -3 gives ~28%


def _split(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


FIRST_NAMES = _split(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Dorothy Jason Rebecca Edward Sharon Jeffrey Laura Ryan Cynthia "
    "Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan Brenda Stephen Emma Larry "
    "Anna Justin Pamela Scott Nicole Brandon Samantha Benjamin Katherine Samuel Christine "
    "Gregory Helen Alexander Debra Patrick Rachel Frank Carolyn Raymond Janet Jack Maria "
    "Dennis Olivia Jerry Heather Tyler Diane Aaron Julie José Zoë Søren Chloé Björn Małgorzata "
    "Nuño Renée François Jürgen Ines Akira Yuki Wei Mei Priya Arjun Fatima Omar Aisha Mateo"
)
LAST_NAMES = _split(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris "
    "Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly "
    "Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza "
    "O'Brien O'Connor D'Angelo Müller Schäfer Kowalski Novák Dubois Rossi Bianchi Yamamoto "
    "Tanaka Chen Wang Singh Patel Kumar Haddad Andersson Johansson Nielsen Van_der_Berg"
)
DOMAINS = _split(
    "gmail.com yahoo.com hotmail.com outlook.com icloud.com proton.me gmx.de web.de "
    "orange.fr libero.it example.org acme-corp.com mail.ru yandex.ru qq.com fastmail.com"
)
CITIES = _split(
    "Springfield|Riverside|Franklin|Greenville|Bristol|Clinton|Fairview|Salem|Madison|"
    "Georgetown|Arlington|Ashland|Dover|Oxford|Jackson|Burlington|Manchester|Milton|Newport|"
    "Auburn|Dayton|Lexington|Berlin|München|Zürich|Köln|Paris|Lyon|Milano|Torino|Madrid|"
    "São Paulo|Kraków|Wrocław|Praha|Wien|Tokyo|Osaka|Toronto|Montréal|Sydney|Melbourne|"
    "Dublin|Cork|Edinburgh|Glasgow|Oslo|Bergen|Helsinki|Tallinn|Riga|Vilnius|Porto|Lisboa",
    "|",
)
COUNTRIES = _split("US US US US GB DE DE FR IT ES PL CZ AT CH JP CA AU IE NO FI PT BR NL SE")
STREETS = _split(
    "Main St|Oak Ave|Maple Dr|Cedar Ln|Pine St|Elm St|Washington Blvd|Lake Rd|Hill St|"
    "Park Ave|Church St|High St|Mill Rd|River Rd|Sunset Blvd|Hauptstraße|Bahnhofstraße|"
    "Rue de la Paix|Via Roma|Calle Mayor|ul. Długa|Station Rd|King's Rd|Queen's Way",
    "|",
)
WORDS = _split(
    "the a an and or but if then please deliver leave package at door back front gate "
    "neighbour reception office call me before after arrival fragile handle with care "
    "gift wrap birthday present do not ring bell dog in yard side entrance upstairs "
    "apartment floor code buzzer is broken knock loudly weekday evening morning only "
    "invoice required company VAT number attached order replaces previous one wrong size "
    "colour returned refund requested exchange pending customer says item arrived damaged "
    "box crushed missing screws manual instructions unclear great product fast shipping "
    "will buy again thanks a lot love it works perfectly as described not as pictured "
    "battery lasts long charger missing cable too short quality could be better price "
    "fair discount applied coupon code loyalty points redeemed express standard economy "
    "pickup store warehouse backorder estimated restock date unknown contact support ticket"
)
QUIPS = (
    'it\'s "perfect"',
    "don't leave it with #4",
    "O'Reilly's order",
    '"urgent" - see ticket',
    'size 10" screen',
    "50% off?",
    "back\\side door",
    "line one\nline two",
    "café crème",
    "naïve résumé",
    "tab\there",
)
STATUSES = _split(
    "pending processing shipped shipped shipped delivered delivered delivered delivered "
    "delivered cancelled refunded on_hold"
)
CURRENCIES = _split("USD USD USD EUR EUR GBP CHF JPY PLN CAD")
ADJECTIVES = _split(
    "Classic Premium Ultra Compact Deluxe Organic Wireless Smart Vintage Portable Ergonomic "
    "Heavy-Duty Slim Eco Pro Mini Max Essential Advanced Handmade Stainless Bamboo Ceramic"
)
NOUNS = _split(
    "Coffee Mug|Desk Lamp|Backpack|Water Bottle|Headphones|Keyboard|Mouse Pad|Notebook|"
    "Phone Case|Charger|Tea Kettle|Frying Pan|Yoga Mat|Running Shoes|T-Shirt|Hoodie|Sunglasses|"
    "Wall Clock|Picture Frame|Throw Pillow|Blender|Toaster|Screwdriver Set|Drill Bits|"
    "Garden Hose|Plant Pot|Dog Leash|Cat Tree|Board Game|Puzzle (1000 pcs)|USB-C Hub|"
    '27" Monitor|Laptop Stand|Webcam|Desk Organizer|Pen Set|Umbrella|Wallet|Watch Strap',
    "|",
)

_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE_RE = re.compile(r"[\\'\"\n\r\t]")


def sql_str(s: str) -> str:
    """A quoted SQL string literal escaped the way mysqldump escapes it."""
    return "'" + _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], s) + "'"


def parse_size(text: str) -> int:
    """``500M``, ``5G``, ``64k``, ``1234`` (binary multiples: 1K = 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (examples: 500M, 5G, 65536)")
    mult = 1024 ** " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * mult)


class Values:
    """Field value generators over one seeded PRNG."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.epoch = datetime.datetime(2015, 1, 1)
        self.catalog = [self._product() for _ in range(5000)]
        self.places = [self._place() for _ in range(3000)]

    def _product(self) -> tuple[str, str, int, str]:
        """A product: (sku, name) as SQL literals, price in cents, weight."""
        adj, noun = self.pick(ADJECTIVES), self.pick(NOUNS)
        colour = self.pick(("", "", ", black", ", white", ", red", ", blue", ", grey"))
        sku = f"{noun[:3].upper()}-{self.r.randrange(100000):05d}-{self.pick('SMLX')}"
        weight = f"{self.r.randrange(50, 25000) / 1000:.3f}"
        return sql_str(sku), sql_str(adj + " " + noun + colour), self.r.randrange(99, 49999), weight

    def _place(self) -> str:
        """City, postal code and country as SQL literals."""
        city = self.pick(CITIES)
        return ",".join(
            (
                sql_str(city),
                sql_str(f"{self.r.randrange(10000, 99999)}"),
                sql_str(self.pick(COUNTRIES)),
            )
        )

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.r.random() * len(seq))]

    def dt(self, span_days: int = 3300) -> datetime.datetime:
        return self.epoch + datetime.timedelta(seconds=self.r.randrange(span_days * 86400))

    def dt_str(self, d: datetime.datetime) -> str:
        return "'" + d.strftime("%Y-%m-%d %H:%M:%S") + "'"

    def money(self, lo: int, hi: int) -> str:
        return f"{self.r.randrange(lo * 100, hi * 100) / 100:.2f}"

    def text(self, lo: int, hi: int) -> str:
        words = self.r.choices(WORDS, k=self.r.randint(lo, hi))
        if self.r.random() < 0.25:
            words.insert(self.r.randrange(len(words) + 1), self.pick(QUIPS))
        s = " ".join(words)
        return s[0].upper() + s[1:] + self.pick((".", ".", "!", "", " :)"))

    def name(self) -> tuple[str, str]:
        return self.pick(FIRST_NAMES), self.pick(LAST_NAMES).replace("_", " ")

    def email(self, first: str, last: str) -> str:
        local = self.pick(
            (
                f"{first}.{last}",
                f"{first[0]}{last}",
                f"{first}{self.r.randrange(100, 9999)}",
                f"{last}.{first}{self.r.randrange(10, 99)}",
            )
        )
        local = re.sub(r"[^a-z0-9.]", "", local.lower()) or "user"
        return f"{local}@{self.pick(DOMAINS)}"

    def phone(self) -> str:
        return self.pick(("+1 ", "+44 ", "+49 ", "+33 ", "")) + "".join(
            str(self.r.randrange(10)) for _ in range(self.r.randint(9, 11))
        )

    def null_or(self, p_null: float, value: Callable[[], str]) -> str:
        return "NULL" if self.r.random() < p_null else value()


@dataclass(frozen=True)
class Table:
    name: str
    ddl: str
    share: float  # fraction of the data bytes
    halves: Callable[[Values, int], tuple[str, str]]  # (middle, end) of one row


def _customer(v: Values, _n_parent: int) -> tuple[str, str]:
    first, last = v.name()
    a = ",".join(
        (
            sql_str(first),
            sql_str(last),
            sql_str(v.email(first, last)),
            v.null_or(0.2, lambda: sql_str(v.phone())),
        )
    )
    created = v.dt()
    b = ",".join(
        (
            sql_str(f"{v.r.randrange(1, 9999)} {v.pick(STREETS)}"),
            v.pick(v.places),
            v.dt_str(created),
            v.dt_str(created + datetime.timedelta(seconds=v.r.randrange(400 * 86400))),
            v.money(0, 20000),
            str(int(v.r.random() < 0.9)),
            v.null_or(0.7, lambda: sql_str(v.text(3, 25))),
        )
    )
    return a, b


def _order(v: Values, n_parent: int) -> tuple[str, str]:
    ordered = v.dt()
    status = v.pick(STATUSES)
    shipped = (
        v.dt_str(ordered + datetime.timedelta(seconds=v.r.randrange(3600, 6 * 86400)))
        if status in ("shipped", "delivered", "refunded")
        else "NULL"
    )
    a = ",".join(
        (
            str(v.r.randrange(1, n_parent + 1)),
            sql_str(f"SO-{ordered:%Y%m}-{v.r.randrange(16**6):06X}"),
            sql_str(status),
            v.dt_str(ordered),
            shipped,
        )
    )
    subtotal = v.r.randrange(500, 250000)
    ship = v.pick((0, 0, 499, 599, 999, 1499))
    tax = subtotal * v.pick((0, 7, 19, 20, 23)) // 100
    b = ",".join(
        (
            f"{subtotal / 100:.2f}",
            f"{ship / 100:.2f}",
            f"{tax / 100:.2f}",
            f"{(subtotal + ship + tax) / 100:.2f}",
            sql_str(v.pick(CURRENCIES)),
            sql_str(v.pick(("card", "card", "card", "paypal", "invoice", "bank_transfer"))),
            v.null_or(
                0.1,
                lambda: (
                    f"'{v.r.randrange(1, 255)}.{v.r.randrange(256)}."
                    f"{v.r.randrange(256)}.{v.r.randrange(1, 255)}'"
                ),
            ),
            v.null_or(0.75, lambda: sql_str(v.text(2, 30))),
        )
    )
    return a, b


def _order_item(v: Values, n_parent: int) -> tuple[str, str]:
    sku, name, price, weight = v.pick(v.catalog)
    qty = v.pick((1, 1, 1, 1, 2, 2, 3, 4, 5, 10))
    disc = v.pick((0, 0, 0, 5, 10, 15, 25))
    a = ",".join(
        (
            str(v.r.randrange(1, n_parent + 1)),
            sku,
            name,
            str(qty),
            f"{price / 100:.2f}",
            f"{disc:.2f}",
            f"{qty * price * (100 - disc) / 10000:.2f}",
            weight,
        )
    )
    b = ",".join((v.null_or(0.92, lambda: sql_str(v.text(1, 12))), v.dt_str(v.dt())))
    return a, b


TABLES = (
    Table(
        "customers",
        """CREATE TABLE `customers` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `first_name` varchar(64) NOT NULL,
  `last_name` varchar(64) NOT NULL,
  `email` varchar(255) NOT NULL,
  `phone` varchar(32) DEFAULT NULL,
  `street` varchar(255) NOT NULL,
  `city` varchar(128) NOT NULL,
  `postal_code` varchar(16) NOT NULL,
  `country` char(2) NOT NULL,
  `created_at` datetime NOT NULL,
  `updated_at` datetime NOT NULL,
  `credit_limit` decimal(10,2) NOT NULL DEFAULT '0.00',
  `is_active` tinyint(1) NOT NULL DEFAULT '1',
  `notes` text,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_customers_email` (`email`),
  KEY `idx_customers_country_city` (`country`,`city`)
) ENGINE=InnoDB AUTO_INCREMENT={auto_inc} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;""",
        0.15,
        _customer,
    ),
    Table(
        "orders",
        """CREATE TABLE `orders` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `customer_id` int unsigned NOT NULL,
  `order_no` varchar(32) NOT NULL,
  `status` enum('pending','processing','shipped','delivered','cancelled','refunded','on_hold') NOT NULL,
  `ordered_at` datetime NOT NULL,
  `shipped_at` datetime DEFAULT NULL,
  `subtotal` decimal(12,2) NOT NULL,
  `shipping` decimal(10,2) NOT NULL DEFAULT '0.00',
  `tax` decimal(10,2) NOT NULL DEFAULT '0.00',
  `total` decimal(12,2) NOT NULL,
  `currency` char(3) NOT NULL,
  `payment_method` varchar(32) NOT NULL,
  `client_ip` varchar(45) DEFAULT NULL,
  `comment` text,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_orders_order_no` (`order_no`),
  KEY `fk_orders_customer` (`customer_id`),
  KEY `idx_orders_status_date` (`status`,`ordered_at`),
  CONSTRAINT `fk_orders_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT={auto_inc} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;""",
        0.35,
        _order,
    ),
    Table(
        "order_items",
        """CREATE TABLE `order_items` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `order_id` bigint unsigned NOT NULL,
  `sku` varchar(32) NOT NULL,
  `product_name` varchar(255) NOT NULL,
  `quantity` smallint unsigned NOT NULL DEFAULT '1',
  `unit_price` decimal(10,2) NOT NULL,
  `discount_pct` decimal(5,2) NOT NULL DEFAULT '0.00',
  `line_total` decimal(12,2) NOT NULL,
  `weight_kg` decimal(8,3) NOT NULL,
  `gift_message` varchar(512) DEFAULT NULL,
  `created_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `fk_order_items_order` (`order_id`),
  CONSTRAINT `fk_order_items_order` FOREIGN KEY (`order_id`) REFERENCES `orders` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT={auto_inc} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;""",
        0.50,
        _order_item,
    ),
)


class RowPool:
    """Two pools of pre-rendered row halves for one table, and fast line assembly.

    A row is ``(id,<first half>,<second half>)``; the halves are drawn
    independently (uniform 16-bit indices from ``randbytes``) and the id is the
    running primary key. Everything per row happens in C: ``bytes %`` renders
    the ids, ``itemgetter`` picks the halves, slice assignment interleaves them.
    """

    def __init__(self, table: Table, v: Values, n_parent: int, n_distinct: int) -> None:
        pairs = [table.halves(v, n_parent) for _ in range(n_distinct)]
        reps = -(-POOL_SIZE // n_distinct)  # a small pool is repeated up to 2**16 entries
        self.first = [(a + ",").encode() for a, _ in pairs] * reps
        self.second = [(b + ")").encode() for _, b in pairs] * reps
        self.rng = v.r
        total = sum(len(x) for x in self.first[:n_distinct])
        total += sum(len(x) for x in self.second[:n_distinct])
        self.avg_halves = total / n_distinct
        self._slots: dict[int, tuple[bytes, list[bytes]]] = {}

    def row_len(self, row_id: int) -> float:
        """Expected length of a row with this id, including the ``,`` before it."""
        return self.avg_halves + 3 + len(str(row_id))

    def _pick(self, pool: list[bytes], n: int) -> tuple[bytes, ...]:
        idx = array("H")
        idx.frombytes(self.rng.randbytes(2 * n))
        if sys.byteorder == "big":  # the same bytes on every machine
            idx.byteswap()
        picked = operator.itemgetter(*idx)(pool)
        return picked if n > 1 else (picked,)  # itemgetter of one index gives the item

    def rows(self, first_id: int, n: int) -> bytes:
        """``(id,...),(id+1,...),...`` for ``n`` rows."""
        slot = self._slots.get(n)
        if slot is None:
            slot = self._slots[n] = (b",(%d,\0" * n, [b""] * (3 * n))
        id_fmt, parts = slot
        ids = (id_fmt % tuple(range(first_id, first_id + n))).split(b"\0")
        ids[0] = ids[0][1:]  # no comma before the first row
        parts[0::3] = ids[:n]
        parts[1::3] = self._pick(self.first, n)
        parts[2::3] = self._pick(self.second, n)
        return b"".join(parts)


HEADER = b"""-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: db-primary.internal    Database: shop
-- ------------------------------------------------------
-- Server version	8.0.36

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

"""


def _table_start(table: Table, auto_inc: int) -> bytes:
    return f"""--
-- Table structure for table `{table.name}`
--

DROP TABLE IF EXISTS `{table.name}`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
{table.ddl.replace("{auto_inc}", str(auto_inc))}
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `{table.name}`
--

LOCK TABLES `{table.name}` WRITE;
/*!40000 ALTER TABLE `{table.name}` DISABLE KEYS */;
""".encode()


def _table_end(table: Table) -> bytes:
    return f"""/*!40000 ALTER TABLE `{table.name}` ENABLE KEYS */;
UNLOCK TABLES;

""".encode()


def _footer(done: datetime.datetime) -> bytes:
    return f"""/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on {done:%Y-%m-%d %H:%M:%S}
""".encode()


def generate(size: int, seed: int = 1) -> Iterator[bytes]:
    """Yield the pieces of a dump of ``size`` bytes (give or take a few KB)."""
    rng = random.Random(seed)
    v = Values(rng)
    start = datetime.datetime(2024, 3, 1, 2, 0, 0) + datetime.timedelta(
        seconds=rng.randrange(86400 * 300)
    )
    done = start + datetime.timedelta(seconds=size // 40_000_000 + rng.randrange(1, 60))
    foot = _footer(done)
    # DDL, LOCK TABLES etc. are a few KB: estimated here, corrected on the last table.
    data_budget = max(0, size - len(HEADER) - len(foot) - 2500 * len(TABLES))
    yield HEADER
    written = len(HEADER)
    n_parent = 1
    for i, table in enumerate(TABLES):
        end = _table_end(table)
        if i < len(TABLES) - 1:
            budget = data_budget * table.share
        else:  # the last table absorbs the estimation error
            budget = size - written - len(_table_start(table, 10**6)) - len(end) - len(foot)
        est_rows = max(0, int(budget / 150))
        distinct = min(MAX_DISTINCT, 1 << max(8, est_rows.bit_length()))
        pool = RowPool(table, v, n_parent, distinct)
        est_rows = max(0, int(budget / pool.row_len(est_rows)))
        start_block = _table_start(table, est_rows + 1)
        yield start_block
        written += len(start_block)
        prefix = f"INSERT INTO `{table.name}` VALUES ".encode()
        next_id, table_bytes = 1, 0
        while True:
            row = pool.row_len(next_id)
            n = round((budget - table_bytes - len(prefix) - 2) / row)
            n = min(n, int((LINE_TARGET - len(prefix)) / row))
            if n <= 0:
                break
            line = b"".join((prefix, pool.rows(next_id, n), b";\n"))
            table_bytes += len(line)
            yield line
            next_id += n
        yield end
        written += table_bytes + len(end)
        n_parent = max(1, next_id - 1)
    yield foot


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--size", type=parse_size, required=True, help="e.g. 500M, 5G (1M = 2^20)")
    ap.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    ap.add_argument("--seed", type=int, default=1, help="PRNG seed (default: 1)")
    args = ap.parse_args(argv)
    out: BinaryIO
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        for piece in generate(args.size, args.seed):
            out.write(piece)
        out.flush()
    except BrokenPipeError:
        return 1
    finally:
        if args.output:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
