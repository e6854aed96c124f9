"""Regenerate the exit-code table in docs/errors.md from src/dbseal/errors.py."""

from pathlib import Path

from dbseal.errors import exit_code_table

doc = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
text = doc.read_text()
head, rest = text.split("<!-- errors:start -->\n", 1)
_, tail = rest.split("<!-- errors:end -->", 1)
doc.write_text(head + "<!-- errors:start -->\n" + exit_code_table() + "<!-- errors:end -->" + tail)
