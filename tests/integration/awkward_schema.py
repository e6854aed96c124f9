"""An awkward but realistic MariaDB 10.11 schema, and an object-by-object comparison.

:func:`create_awkward` builds database ``db`` with rows: every column type (numeric incl.
FLOAT values mariadb-dump prints with 6 significant digits, BIT, DECIMAL; temporal with
fractional seconds; strings and blobs holding binary bytes; ENUM/SET, JSON, INET6, UUID,
GEOMETRY), generated and invisible columns, CHECK constraints, comments, collations,
partitions, a system-versioned table with history, an AUTO_INCREMENT counter above the
highest id, a sequence that was advanced, and views, routines, triggers and an event with
a definer, SQL SECURITY and their own sql_mode. The definer is the account ``owner``.

:func:`describe` reads everything a restore must give back, with exact values (FLOAT via
``CAST(c AS DOUBLE)``, geometry as WKB hex, versioned tables ``FOR SYSTEM_TIME ALL``);
:func:`differences` compares two descriptions, naming each differing object.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pymysql

from dbseal.engines.mariadb.sandbox import MariaDBSandbox

Facts = dict[str, Any]


def account_sql(owner: str) -> list[str]:
    return [
        f"CREATE USER '{owner}'@'%' IDENTIFIED BY 'pw-{owner}'",
        f"CREATE ROLE '{owner}_role'",
        f"GRANT '{owner}_role' TO '{owner}'@'%'",
    ]


def schema_sql(db: str, owner: str) -> list[str]:
    """The statements that build ``db`` (the account ``owner`` must exist)."""
    q = f"`{db}`"
    definer = f"DEFINER = '{owner}'@'%'"
    return [
        f"CREATE DATABASE {q} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        f"GRANT ALL ON {q}.* TO '{owner}_role'",
        f"GRANT SELECT, EXECUTE, TRIGGER, EVENT ON {q}.* TO '{owner}'@'%'",
        f"GRANT SHOW VIEW ON {q}.* TO PUBLIC",
        f"""CREATE TABLE {q}.nums (
            id INT PRIMARY KEY,
            ti TINYINT, su SMALLINT UNSIGNED, mi MEDIUMINT, i INT, bu BIGINT UNSIGNED,
            f FLOAT, fm FLOAT(7,3), d DOUBLE, dm DECIMAL(65,30), bt BIT(13), bo BOOL
        ) COMMENT 'numbers of every kind'""",
        (
            f"INSERT INTO {q}.nums VALUES "
            "(1, -128, 65535, -8388608, 2147483647, 18446744073709551615, 1.0000001, 1.5, "
            "1.0000000000000002, 12345678901234567890.123456789012345678901234567890, "
            "b'1010101010101', TRUE),"
            "(2, 0, 0, 0, 0, 0, 16777216, -0.001, 1e308, -0.000000000000000000000000000001, "
            "b'0', FALSE),"
            "(3, NULL, NULL, NULL, NULL, NULL, 3.4028234e38, NULL, -2.2250738585072014e-308, "
            "NULL, NULL, NULL),"
            "(4, 1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, b'1', TRUE)"
        ),
        f"""CREATE TABLE {q}.temporal (
            id INT PRIMARY KEY,
            dt DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP(6),
            tm TIME(3), da DATE, yr YEAR
        )""",
        f"INSERT INTO {q}.temporal VALUES "
        "(1, '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.123456', '-838:59:58.999', "
        "'1000-01-01', 1901), (2, '9999-12-31 23:59:59.000001', '1970-01-01 00:00:01.5', "
        "'00:00:00.001', '9999-12-31', 2155)",
        f"""CREATE TABLE {q}.strs (
            id INT PRIMARY KEY,
            c CHAR(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
            vc VARCHAR(100) COLLATE utf8mb4_unicode_520_ci COMMENT 'unicode 5.2',
            lt TEXT CHARACTER SET latin1 COLLATE latin1_german2_ci,
            vb VARBINARY(32), bl LONGBLOB,
            e ENUM('a', 'b''q', 'c d'), s SET('x', 'y', 'z'),
            j JSON, ip INET6, u UUID, g GEOMETRY, p POINT
        )""",
        (
            f"INSERT INTO {q}.strs VALUES (1, 'é\U0001f600', 'line1\nline2\ttab \\\\ \\'', "
            "'Stra\xdfe', x'00ff0a0d275c22', x'000102030405060708090a0b0c0d0e0f272225', "
            "'b''q', 'x,z', '{\"k\": [1, 2.5, \"\\\\u00e9\"], \"n\": null}', '::ffff:1.2.3.4', "
            "'123e4567-e89b-12d3-a456-426614174000', "
            "ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 0))'), POINT(1.0000001, -2.5)),"
            "(2, '', '', '', '', '', 'c d', '', '[]', '2001:db8::1', "
            "'00000000-0000-0000-0000-000000000000', ST_GeomFromText('POINT(0 0)'), NULL),"
            "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        ),
        f"""CREATE TABLE {q}.shapes (
            id INT PRIMARY KEY AUTO_INCREMENT,
            w INT NOT NULL CHECK (w > 0),
            h INT NOT NULL,
            area INT AS (w * h) VIRTUAL,
            label VARCHAR(40) AS (CONCAT('s', w, 'x', h)) STORED,
            secret VARCHAR(10) INVISIBLE DEFAULT 'hidden',
            CONSTRAINT wide CHECK (w >= h OR h < 100)
        ) AUTO_INCREMENT = 1""",
        f"INSERT INTO {q}.shapes (w, h, secret) VALUES (2, 3, 'a'), (5, 5, 'b'), (7, 1, 'c')",
        f"DELETE FROM {q}.shapes WHERE id = 3",  # the counter stays at 4
        f"""CREATE TABLE {q}.parts (
            id INT NOT NULL, y SMALLINT NOT NULL, v VARCHAR(10), PRIMARY KEY (id, y)
        ) PARTITION BY RANGE (y) (
            PARTITION p_old VALUES LESS THAN (2000) COMMENT 'before 2000',
            PARTITION p_new VALUES LESS THAN MAXVALUE
        )""",
        f"INSERT INTO {q}.parts VALUES (1, 1999, 'old'), (2, 2024, 'new')",
        f"CREATE TABLE {q}.history (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING",
        f"INSERT INTO {q}.history VALUES (1, 1), (2, 2)",
        f"UPDATE {q}.history SET v = v + 10",
        f"UPDATE {q}.history SET v = v + 10 WHERE id = 1",
        f"DELETE FROM {q}.history WHERE id = 2",  # 5 rows FOR SYSTEM_TIME ALL, 1 current
        # more than one INSERT statement (> 1 MB): a parallel restore deals them to its lanes
        f"CREATE TABLE {q}.history_big (id INT PRIMARY KEY, pad CHAR(100)) WITH SYSTEM VERSIONING",
        f"INSERT INTO {q}.history_big SELECT seq, MD5(seq) FROM {q}.seq_1_to_12000",
        f"UPDATE {q}.history_big SET pad = REVERSE(pad)",
        f"CREATE SEQUENCE {q}.seq START WITH 100 INCREMENT BY 5 CACHE 0",
        f"SELECT NEXT VALUE FOR {q}.seq",
        f"SELECT NEXT VALUE FOR {q}.seq",
        f"CREATE {definer} SQL SECURITY DEFINER VIEW {q}.v_nums AS "
        f"SELECT id, f, d FROM {q}.nums WHERE id < 4",
        f"CREATE {definer} SQL SECURITY INVOKER VIEW {q}.v_inv AS SELECT id, w FROM {q}.shapes",
        "SET SESSION sql_mode = 'ANSI_QUOTES,NO_ZERO_DATE'",
        f"""CREATE {definer} PROCEDURE {q}.bump(IN n INT) SQL SECURITY DEFINER
            COMMENT 'adds n' UPDATE {q}.parts SET v = CONCAT(v, n)""",
        f"""CREATE {definer} FUNCTION {q}.twice(x DOUBLE) RETURNS DOUBLE DETERMINISTIC
            SQL SECURITY INVOKER RETURN x * 2""",
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES'",
        f"""CREATE {definer} TRIGGER {q}.shapes_bi BEFORE INSERT ON {q}.shapes
            FOR EACH ROW SET NEW.h = GREATEST(NEW.h, 1)""",
        f"""CREATE {definer} EVENT {q}.nightly ON SCHEDULE EVERY 1 DAY
            STARTS '2030-01-01 00:00:00' DISABLE COMMENT 'off'
            DO DELETE FROM {q}.parts WHERE y < 1900""",
        "SET SESSION sql_mode = DEFAULT",
    ]


def create_awkward(server: MariaDBSandbox, db: str, owner: str) -> None:
    """Create the account ``owner`` (and its role) and the database ``db`` on ``server``."""
    with server.connect() as conn:
        conn.autocommit(True)
        with conn.cursor() as cur:
            for st in [*account_sql(owner), *schema_sql(db, owner)]:
                cur.execute(st)
                cur.fetchall()


def drop_awkward(server: MariaDBSandbox, db: str, owner: str) -> None:
    with server.connect() as conn:
        conn.autocommit(True)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            with contextlib.suppress(pymysql.err.MySQLError):  # no such grant
                cur.execute(f"REVOKE SHOW VIEW ON `{db}`.* FROM PUBLIC")
            cur.execute(f"DROP USER IF EXISTS '{owner}'@'%'")
            cur.execute(f"DROP ROLE IF EXISTS '{owner}_role'")


_AUTO_INC = re.compile(r" AUTO_INCREMENT=\d+")


def _column_expr(name: str, data_type: str) -> str:
    col = f"`{name}`"
    if data_type == "float":
        return f"CAST({col} AS DOUBLE)"
    if data_type in ("geometry", "point", "polygon", "linestring", "multipoint"):
        return f"HEX(ST_AsWKB({col}))"
    if data_type == "bit" or "blob" in data_type or "binary" in data_type:
        return f"HEX({col})"
    return f"CAST({col} AS CHAR)"  # DOUBLE prints 17 digits, DECIMAL all of its digits


def _rows(cur: Any, sql: str, *params: object) -> list[tuple[Any, ...]]:
    cur.execute(sql, params or None)
    return [tuple(r) for r in cur.fetchall()]


def _table_facts(cur: Any, db: str, table: str, versioned: bool) -> Facts:
    (_, create) = _rows(cur, f"SHOW CREATE TABLE `{db}`.`{table}`")[0]
    cols = _rows(
        cur,
        "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        db,
        table,
    )
    exprs = [_column_expr(str(n), str(t)) for n, t in cols]
    if versioned:
        exprs += ["CAST(ROW_START AS CHAR)", "CAST(ROW_END AS CHAR)"]
    system_time = " FOR SYSTEM_TIME ALL" if versioned else ""
    values = _rows(
        cur,
        f"SELECT {', '.join(exprs)} FROM `{db}`.`{table}`{system_time} "
        f"ORDER BY {', '.join(str(i + 1) for i in range(len(exprs)))}",
    )
    (auto_inc,) = _rows(
        cur,
        "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        db,
        table,
    )[0]
    return {
        "create": _AUTO_INC.sub("", str(create)),
        "rows_all_time": len(values),
        "values": values,
        "auto_increment": auto_inc,
    }


def describe(server: MariaDBSandbox, db: str) -> Facts:
    """Everything about ``db`` that a restore must give back (names relative to ``db``)."""
    with server.connect() as conn:
        conn.autocommit(True)
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            facts: Facts = {}
            tables = _rows(
                cur,
                "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
                db,
            )
            for name, kind in tables:
                if kind == "VIEW":
                    facts[f"view {name}"] = _rows(
                        cur,
                        "SELECT VIEW_DEFINITION, DEFINER, SECURITY_TYPE, CHECK_OPTION "
                        "FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                        db,
                        name,
                    )
                elif kind == "SEQUENCE":
                    facts[f"sequence {name}"] = _rows(
                        cur,
                        "SELECT next_not_cached_value, minimum_value, maximum_value, "
                        f"start_value, increment, cache_size, cycle_option FROM `{db}`.`{name}`",
                    )
                else:
                    facts[f"table {name}"] = _table_facts(
                        cur, db, str(name), kind == "SYSTEM VERSIONED"
                    )
            for kind, sql in _OBJECT_QUERIES.items():
                for row in _rows(cur, sql, db):
                    facts[f"{kind} {row[0]}"] = row[1:]
            return facts


_OBJECT_QUERIES = {
    "routine": "SELECT ROUTINE_NAME, ROUTINE_TYPE, DEFINER, SECURITY_TYPE, SQL_MODE, "
    "ROUTINE_DEFINITION, DTD_IDENTIFIER, IS_DETERMINISTIC, ROUTINE_COMMENT "
    "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s",
    "trigger": "SELECT TRIGGER_NAME, DEFINER, SQL_MODE, ACTION_TIMING, EVENT_MANIPULATION, "
    "ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s",
    "event": "SELECT EVENT_NAME, DEFINER, STATUS, SQL_MODE, EVENT_DEFINITION, "
    "INTERVAL_VALUE, INTERVAL_FIELD, CAST(STARTS AS CHAR), EVENT_COMMENT "
    "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
}


def accounts(server: MariaDBSandbox, owner: str, owner_db: str) -> Facts:
    """The grants of ``owner``, its role and PUBLIC's on ``owner_db``; missing ones left out."""
    out: Facts = {}
    with server.connect() as conn, conn.cursor() as cur:
        public = [str(r[0]) for r in _rows(cur, "SHOW GRANTS FOR PUBLIC") if owner_db in str(r[0])]
        if public:
            out["PUBLIC"] = public
        for who in (f"'{owner}'@'%'", f"'{owner}_role'"):
            with contextlib.suppress(pymysql.err.OperationalError):  # no such account
                out[who] = sorted(r[0] for r in _rows(cur, f"SHOW GRANTS FOR {who}"))
    return out


def differences(want: Facts, got: Facts) -> list[str]:
    """One line per object that is missing, extra or different in ``got``."""
    out = [f"{key} is missing" for key in sorted(want.keys() - got.keys())]
    out += [f"{key} should not be there" for key in sorted(got.keys() - want.keys())]
    for key in sorted(want.keys() & got.keys()):
        w, g = want[key], got[key]
        if isinstance(w, dict) and isinstance(g, dict):
            out += [
                f"{key}: {part}: {w.get(part)!r} became {g.get(part)!r}"
                for part in sorted(w.keys() | g.keys())
                if w.get(part) != g.get(part)
            ]
        elif w != g:
            out.append(f"{key}: {w!r} became {g!r}")
    return out
