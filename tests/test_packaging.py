"""What a user installing dbseal from an sdist or PyPI gets: the licence, the docs, optional S3."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_matches_the_declared_licence() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_boto3_is_only_needed_for_s3_and_kms() -> None:
    requires = metadata.requires("dbseal") or []
    boto = [r for r in requires if r.startswith(("boto3", "botocore"))]
    assert boto, "the s3/kms extras should name boto3"
    assert all("extra ==" in r for r in boto), f"boto3 must not be a core dependency: {boto}"
    assert any('extra == "s3"' in r for r in boto)


def test_sdist_ships_docs_license_and_vectors(tmp_path: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    tree = tmp_path / "tree"
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            dest = tree / name.decode()
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(out),
        ],
        cwd=tree,
        check=True,
        capture_output=True,
    )
    (sdist,) = out.glob("dbseal-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for doc in ("docs/format.md", "docs/design.md", "docs/errors.md", "docs/s3.md"):
        assert doc in names, f"{doc} missing from the sdist"
    assert "LICENSE" in names
    assert "tests/vectors/vectors.json" in names
    assert "src/dbseal/py.typed" in names
    assert "src/dbseal/report/templates/report.html.j2" in names
    assert "src/dbseal/report/templates/report.css" in names


def test_wheel_carries_the_report_templates(tmp_path: Path) -> None:
    """`dbseal report` renders from package data: a wheel without the templates cannot."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    tree = tmp_path / "tree"
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            dest = tree / name.decode()
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))",
            str(out),
        ],
        cwd=tree,
        check=True,
        capture_output=True,
    )
    import zipfile

    (wheel,) = out.glob("dbseal-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dbseal/report/templates/report.html.j2" in names
    assert "dbseal/report/templates/report.css" in names


def test_report_needs_only_its_extra() -> None:
    requires = metadata.requires("dbseal") or []
    report = [r for r in requires if r.startswith(("jinja2", "matplotlib"))]
    assert report and all('extra == "report"' in r for r in report), report
