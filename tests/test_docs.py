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


def _environment_reads() -> set[str]:
    """Names of environment variables src/ reads: literal os.environ/getenv keys, and
    every DBSEAL_* string (names passed around in constants, e.g. PASSPHRASE_ENV)."""
    import ast
    import re

    names: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            arg = None
            if isinstance(node, ast.Call) and ast.unparse(node.func) in (
                "os.environ.get",
                "os.getenv",
                "environ.get",
                "getenv",
            ):
                arg = node.args[0] if node.args else None
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                arg = node.slice
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(re.findall(r"\bDBSEAL_[A-Z0-9_]+\b", node.value))
    return names


def test_every_environment_variable_is_documented() -> None:
    doc = (ROOT / "docs" / "environment.md").read_text()
    names = _environment_reads()
    assert {"DBSEAL_CONFIG", "DBSEAL_DEBUG", "PATH"} <= names  # the scan itself works
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"document these in docs/environment.md: {missing}"
