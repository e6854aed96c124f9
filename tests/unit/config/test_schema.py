"""The schema and the option mapping of dbseal.toml describe the same keys."""

from __future__ import annotations

from dbseal.cli.config import SOURCE_KEYS, TOP_KEYS
from dbseal.config.locate import key_line
from dbseal.config.schema import FileConfig, SourceConfig


def test_every_schema_key_fills_an_option() -> None:
    tables = {
        "sources",
        "retention",
        "check",
        "state",
        "log",
        "hooks",
        "ping",
    }  # tables, read by their commands
    assert set(TOP_KEYS) == set(FileConfig.model_fields) - tables
    assert set(SOURCE_KEYS) == set(SourceConfig.model_fields) - {"retention", "check", "ping"}


def test_key_line_finds_headers_dotted_keys_and_skips_multiline_strings() -> None:
    text = 'a = """\n[sources.x]\nurl = 1\n"""\n[sources."x"]\n url = "m"\n'
    assert key_line(text, ("sources", "x", "url")) == 6
    assert key_line(text, ("sources", "x")) == 5
    assert key_line(text, ("nothing",)) is None
