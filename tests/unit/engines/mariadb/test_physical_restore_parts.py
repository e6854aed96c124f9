"""Parts of the physical restore that need no server: the key material's mbstream files,
the restored server's my.cnf lines, the datadir checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import keyfile as kf
from dbseal.engines.mariadb.datadir import check_target
from dbseal.engines.mariadb.physical.mbstream import MbstreamScanner
from dbseal.engines.mariadb.prepare import parse_size
from dbseal.engines.mariadb.restore_keys import my_cnf_lines
from dbseal.errors import DatadirInUse, TargetNotEmpty, UsageError

KEY = b"1;" + b"ab" * 32 + b"\n"


def material() -> kf.KeyMaterial:
    return kf.KeyMaterial(
        kf.FILE_PLUGIN,
        (kf.KeyFile("keyfile", "/etc/mysql/keys.txt", Secret(KEY)),),
        {"file_key_management_filename": "/etc/mysql/keys.txt"},
    )


def test_the_key_files_are_whole_mbstream_files_the_scanner_reads_back() -> None:
    scan = MbstreamScanner(capture=(f"{kf.KEY_DIR}/keyfile", f"{kf.KEY_DIR}/index.json"))
    data = material().mbstream()
    for i in range(0, len(data), 7):  # in pieces, as a stream arrives
        scan.feed(data[i : i + 7])
    assert scan.error is None
    assert scan.file(f"{kf.KEY_DIR}/keyfile") == KEY
    index = json.loads(scan.file(f"{kf.KEY_DIR}/index.json") or b"{}")
    assert index["files"] == [{"role": "keyfile", "path": "/etc/mysql/keys.txt", "name": "keyfile"}]


def test_the_manifest_description_holds_no_key() -> None:
    described = json.dumps(material().describe())
    assert "ab" * 32 not in described and '"included": true' in described
    assert kf.KeyMaterial(kf.FILE_PLUGIN).mbstream() == b""


def test_an_extracted_index_cannot_name_a_file_outside_its_directory(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text(
        json.dumps({"plugin": kf.FILE_PLUGIN, "files": [
            {"role": "keyfile", "path": "/k", "name": "../../etc/passwd"},
            {"role": "filekey", "path": "/f", "name": "filekey"},
        ]})
    )  # fmt: skip
    keys = kf.read_extracted(tmp_path)
    assert keys is not None
    assert keys.file("keyfile") is None and keys.file("filekey") == tmp_path / "filekey"


def test_the_my_cnf_lines_name_the_restored_key_files() -> None:
    manifest = {
        "physical": {
            "encryption": {
                "plugin_load": "file_key_management=file_key_management",
                "file_key_management_filename": "/old/keys.txt",
                "file_key_management_filekey": "literal-secret",
                "innodb_encrypt_tables": "ON",
            }
        }
    }
    lines = my_cnf_lines(Path("/var/lib/new"), manifest, {"keyfile": Path("/new/keys.txt")})
    assert lines[:3] == [
        "[mariadbd]",
        "datadir=/var/lib/new",
        "plugin_load_add=file_key_management",
    ]
    assert "file_key_management_filename=/new/keys.txt" in lines
    assert "innodb_encrypt_tables=ON" in lines
    assert not any("literal-secret" in line for line in lines)
    assert my_cnf_lines(Path("/d"), {}, {}) == ["[mariadbd]", "datadir=/d"]


def test_sizes() -> None:
    assert parse_size("512M") == 512 << 20 and parse_size("2G") == 2 << 30
    assert parse_size("1GiB") == 1 << 30 and parse_size("4096") == 4096
    with pytest.raises(ValueError):
        parse_size("lots")


def test_a_datadir_must_be_empty_and_its_parent_must_exist(tmp_path: Path) -> None:
    check_target(tmp_path / "new")  # absent: fine
    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(TargetNotEmpty):
        check_target(tmp_path / "full")
    with pytest.raises(UsageError):
        check_target(tmp_path / "no" / "parent")


def test_a_datadir_whose_ibdata1_another_process_locks_is_in_use(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    datadir.mkdir()
    (datadir / "ibdata1").write_bytes(b"\0" * 16)
    locker = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.lockf(fd, fcntl.LOCK_EX); os.chdir('/'); print('locked', flush=True); time.sleep(60)",
         str(datadir / "ibdata1")],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert locker.stdout is not None and locker.stdout.readline() == b"locked\n"
        with pytest.raises(DatadirInUse, match=r"lock on ibdata1|has .* open"):
            check_target(datadir)
    finally:
        locker.kill()
        locker.wait()


def test_a_literal_filekey_never_reaches_the_manifest() -> None:
    from dbseal.engines.mariadb.physical.facts import encryption_settings, redact_cnf

    cnf = {"file_key_management_filekey": "pw123456", "file_key_management_filename": "/k"}
    assert encryption_settings(cnf) == {
        "file_key_management_filekey": "***",
        "file_key_management_filename": "/k",
    }
    assert encryption_settings({"file_key_management_filekey": "FILE:/f"}) == {
        "file_key_management_filekey": "FILE:/f"
    }
    text = "[mysqld]\nfile_key_management_filekey=pw123456\nfile_key_management_filename=/k\n"
    assert "pw123456" not in redact_cnf(text) and "filename=/k" in redact_cnf(text)
