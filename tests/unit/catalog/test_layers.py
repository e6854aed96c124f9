"""The catalog is a lower layer: it never imports ops, cli, crypto or codecs (lazily neither)."""

from __future__ import annotations

import ast
from pathlib import Path

import dbseal.catalog

UPPER = ("dbseal.ops", "dbseal.cli", "dbseal.crypto", "dbseal.codecs", "dbseal.server")


def test_catalog_imports_no_upper_layer() -> None:
    root = Path(dbseal.catalog.__file__).parent
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found += [f"{path.name}: {n}" for n in names if n.startswith(UPPER)]
    assert found == []
