"""The documentation that is generated from code stays in step with it."""

from pathlib import Path

from dbseal.errors import exit_code_table

ROOT = Path(__file__).resolve().parents[1]


def test_errors_md_matches_the_error_tree() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    block = text.split("<!-- errors:start -->\n", 1)[1].split("<!-- errors:end -->", 1)[0]
    assert block == exit_code_table(), "docs/errors.md is stale: run `make docs-errors`"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.strip()]
    code = [ln for ln in lines[:12] if ln.startswith("make ")]
    assert code[:2] == ["make demo", "make test"]
