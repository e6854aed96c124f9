"""`dbseal restore --rename-db` makes an independent copy, or refuses before applying anything.

Two source databases ``a`` and ``b``: a sequence used as ``DEFAULT nextval()`` in ``a``, a
foreign key from ``a.child`` to ``b.parent``, a view in ``a`` over both, a trigger, a
procedure and a function in ``a`` naming ``a.t`` and ``b.t`` qualified, and an enabled
event in ``a``. Restored with both renamed, the copy must not use, reference or run anything
of the source: the source can be dropped and the copy still works, and the copy's event is
disabled (the restore says so). A body naming an old database inside a string literal
cannot be rewritten safely: the restore refuses (exit 39) before the target sees anything,
unless --allow-old-references.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import DbsealUser, databases_on, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb


@dataclass(frozen=True)
class Source:
    user: DbsealUser
    repo: Path
    bid: str
    a: str
    b: str
    cp_a: str
    cp_b: str

    def rename_both(self) -> tuple[str, ...]:
        return ("--rename-db", f"{self.a}={self.cp_a}", "--rename-db", f"{self.b}={self.cp_b}")


def schema(a: str, b: str) -> list[str]:
    return [
        f"CREATE DATABASE `{a}`",
        f"CREATE DATABASE `{b}`",
        f"CREATE SEQUENCE `{a}`.seq",
        f"CREATE TABLE `{b}`.parent (id INT PRIMARY KEY)",
        f"CREATE TABLE `{b}`.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(50))",
        f"CREATE TABLE `{a}`.t (id INT PRIMARY KEY DEFAULT nextval(`{a}`.seq), v VARCHAR(50))",
        f"CREATE TABLE `{a}`.child (id INT PRIMARY KEY, pid INT,"
        f" FOREIGN KEY (pid) REFERENCES `{b}`.parent (id))",
        f"CREATE VIEW `{a}`.v AS SELECT x.id, y.v FROM `{a}`.t x JOIN `{b}`.t y ON x.id = y.id",
        f"CREATE TRIGGER `{a}`.tr AFTER INSERT ON `{a}`.t FOR EACH ROW"
        f" INSERT INTO {b}.t (id, v) VALUES (NEW.id, CONCAT('copy of ', NEW.v))",
        f"CREATE PROCEDURE `{a}`.p() BEGIN"
        f" SELECT (SELECT COUNT(*) FROM {a}.t) + (SELECT COUNT(*) FROM `{b}`.`t`) AS n; END",
        f"CREATE FUNCTION `{a}`.f() RETURNS INT READS SQL DATA"
        f" RETURN (SELECT COUNT(*) FROM `{a}`.t) * 100 + (SELECT COUNT(*) FROM {b}.t)",
        f"CREATE EVENT `{a}`.ev ON SCHEDULE EVERY 1 DAY STARTS '2035-01-01 00:00:00' ENABLE"
        f" DO INSERT INTO {a}.t (v) VALUES ('event')",
        f"INSERT INTO `{b}`.parent VALUES (1)",
        f"INSERT INTO `{a}`.child VALUES (1, 1)",
        f"INSERT INTO `{a}`.t (v) VALUES ('one')",
    ]


def make_source(
    user: DbsealUser, server: MariaDBSandbox, scratch_dbs: list[str], *extra: str
) -> Source:
    tag = uuid.uuid4().hex[:6]
    a, b, cp_a, cp_b = (f"fr{tag}_{n}" for n in ("src_a", "src_b", "cp_a", "cp_b"))
    scratch_dbs += [cp_a, cp_b, a, b]  # copies first: their foreign keys point at b
    run_sql(server, *schema(a, b), *(s.format(a=a, b=b) for s in extra))
    repo = user.init()
    bid = user.good_backup(repo, server, a, b)
    return Source(user, repo, bid, a, b, cp_a, cp_b)


@pytest.fixture
def source(user: DbsealUser, mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> Source:
    return make_source(user, mariadb, scratch_dbs)


def bodies(server: MariaDBSandbox, db: str) -> dict[str, str]:
    """Every stored body of ``db`` that can name a database, by object."""
    out: dict[str, str] = {}
    for kind, sql in (
        (
            "view",
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS"
            " WHERE TABLE_SCHEMA = %s",
        ),
        (
            "routine",
            "SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES"
            " WHERE ROUTINE_SCHEMA = %s",
        ),
        (
            "trigger",
            "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS"
            " WHERE TRIGGER_SCHEMA = %s",
        ),
        (
            "event",
            "SELECT EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS"
            " WHERE EVENT_SCHEMA = %s",
        ),
    ):
        for name, body in fetch(server, sql, db):
            out[f"{kind} {name}"] = str(body)
    return out


def event_status(server: MariaDBSandbox, db: str) -> str:
    ((status,),) = fetch(
        server, "SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s", db
    )
    return str(status)


def next_not_cached(server: MariaDBSandbox, db: str) -> int:
    ((n,),) = fetch(server, f"SELECT next_not_cached_value FROM `{db}`.seq")
    return int(n)


def test_a_renamed_copy_in_the_same_server_is_independent_of_its_source(
    source: Source, mariadb: MariaDBSandbox
) -> None:
    s = source
    res = s.user.restore(s.repo, s.bid, mariadb, *s.rename_both(), "--json").ok()

    # the copy's event does not run the source's job, and the restore says so
    assert event_status(mariadb, s.cp_a) == "DISABLED"
    assert event_status(mariadb, s.a) == "ENABLED"
    assert res.json()["disabled_events"] == [f"{s.cp_a}.ev"]

    # inserting into the copy uses the copy's sequence, not the source's
    before = next_not_cached(mariadb, s.a)
    run_sql(mariadb, f"INSERT INTO `{s.cp_a}`.t (v) VALUES ('two')")
    assert next_not_cached(mariadb, s.a) == before
    assert fetch(mariadb, f"SELECT v FROM `{s.b}`.t ORDER BY id") == [("copy of one",)]

    # the foreign key points at the copy of b
    fks = fetch(
        mariadb,
        "SELECT UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME"
        " FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s",
        s.cp_a,
    )
    assert fks == [(s.cp_b, "parent")]

    # view, routine, trigger and event bodies name only the copies
    found = bodies(mariadb, s.cp_a)
    assert set(found) == {"view v", "routine p", "routine f", "trigger tr", "event ev"}
    for obj, body in found.items():
        assert s.a not in body and s.b not in body, (obj, body)
    assert s.cp_b in found["view v"] and s.cp_b in found["trigger tr"]
    assert s.cp_a in found["routine p"] and s.cp_b in found["routine f"]

    # the source can be dropped, and the copy still works on its own
    run_sql(mariadb, f"DROP DATABASE `{s.a}`", f"DROP DATABASE `{s.b}`")
    run_sql(mariadb, f"INSERT INTO `{s.cp_a}`.t (v) VALUES ('three')")
    assert fetch(mariadb, f"SELECT `{s.cp_a}`.f()") == [(303,)]
    assert fetch(mariadb, f"SELECT COUNT(*) FROM `{s.cp_a}`.v") == [(3,)]
    run_sql(mariadb, f"INSERT INTO `{s.cp_a}`.child VALUES (2, 1)")


def test_renaming_one_database_of_two_keeps_references_to_the_other(
    source: Source, mariadb_restore: MariaDBSandbox
) -> None:
    s = source
    res = s.user.restore(s.repo, s.bid, mariadb_restore, "--rename-db", f"{s.a}={s.cp_a}").ok()
    assert "disabled 1 event(s) in the renamed copy" in res.stdout and f"{s.cp_a}.ev" in res.stdout
    assert s.b in databases_on(mariadb_restore) and s.a not in databases_on(mariadb_restore)
    fks = fetch(
        mariadb_restore,
        "SELECT UNIQUE_CONSTRAINT_SCHEMA FROM information_schema.REFERENTIAL_CONSTRAINTS"
        " WHERE CONSTRAINT_SCHEMA = %s",
        s.cp_a,
    )
    assert fks == [(s.b,)]
    found = bodies(mariadb_restore, s.cp_a)
    for obj, body in found.items():
        assert s.a not in body, (obj, body)
    assert s.b in found["view v"] and s.b in found["trigger tr"] and s.b in found["routine f"]
    assert s.cp_a in found["routine p"] and s.cp_a in found["event ev"]
    assert event_status(mariadb_restore, s.cp_a) == "DISABLED"
    run_sql(mariadb_restore, f"INSERT INTO `{s.cp_a}`.t (v) VALUES ('two')")
    assert fetch(mariadb_restore, f"SELECT `{s.cp_a}`.f()") == [(202,)]


def test_events_keep_their_status_under_the_original_name_or_when_asked(
    source: Source, mariadb_restore: MariaDBSandbox
) -> None:
    s = source
    res = s.user.restore(s.repo, s.bid, mariadb_restore, "--json").ok()
    assert event_status(mariadb_restore, s.a) == "ENABLED"
    assert res.json()["disabled_events"] == []
    res = s.user.restore(
        s.repo, s.bid, mariadb_restore, *s.rename_both(), "--keep-events-enabled", "--json"
    ).ok()
    assert event_status(mariadb_restore, s.cp_a) == "ENABLED"
    assert res.json()["disabled_events"] == []


LITERAL = "CREATE PROCEDURE `{a}`.lit() SELECT 'see {a}.t' AS x"


@pytest.fixture
def literal_source(
    user: DbsealUser, mariadb: MariaDBSandbox, scratch_dbs: list[str]
) -> Iterator[Source]:
    yield make_source(user, mariadb, scratch_dbs, LITERAL)


def test_an_old_name_in_a_string_literal_refuses_before_anything_is_applied(
    literal_source: Source, mariadb_restore: MariaDBSandbox
) -> None:
    s = literal_source
    for extra in ((), ("--no-verify-first",)):
        line = s.user.restore(s.repo, s.bid, mariadb_restore, *s.rename_both(), *extra).error(39)
        assert f"procedure {s.cp_a}.lit" in line and "--allow-old-references" in line
        assert "1 object " in line  # only that one
        if not extra:
            on_target = databases_on(mariadb_restore)
            assert s.cp_a not in on_target and s.cp_b not in on_target
        run_sql(mariadb_restore, f"DROP DATABASE IF EXISTS `{s.cp_a}`")
        run_sql(mariadb_restore, f"DROP DATABASE IF EXISTS `{s.cp_b}`")

    res = s.user.restore(
        s.repo, s.bid, mariadb_restore, *s.rename_both(), "--allow-old-references", "--json"
    ).ok()
    assert res.json()["old_references"] == [f"procedure {s.cp_a}.lit"]
    assert fetch(mariadb_restore, f"SELECT `{s.cp_a}`.f()") == [(101,)]
    found = bodies(mariadb_restore, s.cp_a)
    assert f"'see {s.a}.t'" in found["routine lit"]  # left as it was
    assert s.a not in found["routine p"]
