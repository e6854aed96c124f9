"""A small deterministic mysqldump-like SQL file for the demo and tests.

``python -m dbseal.demo_data --size 20M -o shop.sql``
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import BinaryIO

_FIRST = [
    "Ana",
    "Björn",
    "Chen",
    "Dara",
    "Émile",
    "Fatima",
    "Goran",
    "Hana",
    "Ivo",
    "Jun",
    "Kofi",
    "Lena",
]
_LAST = [
    "Silva",
    "Nguyen",
    "O'Brien",
    "Kowalski",
    "Müller",
    "Haddad",
    "Tanaka",
    "Okafor",
    "Rossi",
    "Ivanova",
]
_WORDS = [
    "order",
    "shipped",
    "quickly",
    "blue",
    "large",
    "small",
    "gift",
    "wrap",
    "returned",
    "damaged",
    "premium",
    "express",
]

HEADER = """-- MySQL dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: shop
-- ------------------------------------------------------
/*!40101 SET NAMES utf8mb4 */;
DROP TABLE IF EXISTS `customers`;
CREATE TABLE `customers` (
  `id` int(11) NOT NULL,
  `name` varchar(100) NOT NULL,
  `email` varchar(200) DEFAULT NULL,
  `created` datetime NOT NULL,
  `balance` decimal(12,2) NOT NULL,
  `note` text,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
"""


def _row(rng: random.Random, i: int) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    name = f"{first} {last}".replace("'", "\\'")
    email = "NULL" if rng.random() < 0.05 else f"'{first.lower()}.{i}@example.com'"
    note = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 12)))
    ts = f"20{rng.randint(10, 26):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    return f"({i},'{name}',{email},'{ts}',{rng.randint(0, 10**7) / 100:.2f},'{note}')"


def write_dump(out: BinaryIO, size: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    written = 0
    out.write(HEADER.encode())
    i = 0
    while written < size:
        rows = []
        for _ in range(2000):
            i += 1
            rows.append(_row(rng, i))
        line = ("INSERT INTO `customers` VALUES " + ",".join(rows) + ";\n").encode()
        out.write(line)
        written += len(line)
    out.write(b"-- Dump completed on 2026-11-23 12:00:00\n")


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="20M")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    if args.output:
        with open(args.output, "wb") as fh:
            write_dump(fh, _size(args.size))
    else:
        write_dump(sys.stdout.buffer, _size(args.size))


if __name__ == "__main__":
    main()
