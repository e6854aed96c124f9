"""PostgreSQL test helpers: an awkward schema, what a user compares after a restore."""

from __future__ import annotations

from typing import Any

AWKWARD_SCHEMA = r"""
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE ticket_seq START 1000;
CREATE TABLE kinds (
    id int PRIMARY KEY,
    tags text[],
    matrix int[][],
    doc jsonb,
    raw bytea,
    amount numeric(30, 10),
    huge numeric,
    at timestamptz,
    feeling mood,
    secret bytea,
    ticket bigint DEFAULT nextval('ticket_seq'),
    note text
);
INSERT INTO kinds (id, tags, matrix, doc, raw, amount, huge, at, feeling, secret, note) VALUES
 (1, ARRAY['a', 'b,c', 'd"e', NULL], '{{1,2},{3,4}}', '{"k": [1, 2.5, null, "x\u00e9"], "n": {"deep": true}}',
  '\x00010200ff00'::bytea, -12345678901234567890.0123456789, 1e-40 + 123456789012345678901234567890,
  '2024-02-29 23:59:59.999999+05:30', 'happy', pgp_sym_encrypt('hidden', 'pw'), 'Grüße 🦭 tab	newline
 end'),
 (2, '{}', NULL, 'null', '', 0, 'NaN', '-infinity', 'sad', NULL, ''),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE events (id bigserial, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events (at, what) SELECT DATE '2023-06-01' + (i % 400), 'e' || i FROM generate_series(1, 5000) i;
CREATE VIEW happy_kinds AS SELECT id, note FROM kinds WHERE feeling = 'happy';
CREATE FUNCTION add_tax(x numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT x * 1.2';
CREATE TABLE audit (id serial PRIMARY KEY, kind_id int, at timestamptz DEFAULT now());
CREATE FUNCTION audit_kind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit (kind_id) VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER kinds_audit AFTER INSERT ON kinds FOR EACH ROW EXECUTE FUNCTION audit_kind();
INSERT INTO kinds (id, note) VALUES (4, 'after the trigger');
SELECT lo_from_bytea(0, '\x006c6172676500ff'::bytea);
SELECT setval('ticket_seq', 4242);
"""

CONTENTS_SQL = (
    "SELECT id, tags, matrix, doc, encode(raw, 'hex'), amount, huge, at, feeling, "
    "pgp_sym_decrypt(secret, 'pw'), ticket, note FROM kinds ORDER BY id"
)


def contents(sql: Any, db: str) -> dict[str, Any]:
    """What a user would look at after a restore (``sql(statement, db)`` returns rows)."""
    return {
        "kinds": sql(CONTENTS_SQL, db),
        "events": sql("SELECT count(*), min(at), max(at), sum(id) FROM events", db),
        "partitions": sql(
            "SELECT count(*) FROM events_2023 UNION ALL SELECT count(*) FROM events_2024", db
        ),
        "view": sql("SELECT * FROM happy_kinds", db),
        "function": sql("SELECT add_tax(10)", db),
        "sequence": sql("SELECT last_value FROM ticket_seq", db),
        "large_object": sql("SELECT encode(lo_get(oid), 'hex') FROM pg_largeobject_metadata", db),
        "trigger": sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal", db),
        "audit": sql("SELECT kind_id FROM audit ORDER BY id", db),
    }
