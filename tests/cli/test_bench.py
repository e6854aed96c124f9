"""`dbseal bench FILE|-`: every codec really seals and unseals a sample, nothing lands on disk."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from cli.clikit import Runner

CODECS = "none,lz4:0,gzip:1,zstd:1,zstd:9"


def _sql_like(n: int) -> bytes:
    rnd = random.Random(7)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"'2026-12-01'", b"NULL", b"42.50"]
    rows = (b"(" + b",".join(rnd.choice(words) for _ in range(8)) + b")" for _ in range(n // 40))
    return b"INSERT INTO `t` VALUES " + b",".join(rows) + b";\n"


def test_bench_of_a_file_measures_each_codec_and_recommends_one(
    dbseal: Runner, tmp_path: Path
) -> None:
    data = _sql_like(600_000)
    (tmp_path / "dump.sql").write_bytes(data)
    res = dbseal("bench", "dump.sql", "--sample", "256K", "--codecs", CODECS, "--json")
    assert res.rc == 0, res.stderr
    doc = json.loads(res.out)
    assert doc["sample_bytes"] == 256 * 1024
    got = {r["codec"]: r for r in doc["results"]}
    assert list(got) == CODECS.split(",")
    # none only adds the framing; every codec shrinks SQL text, zstd:9 at least as much as zstd:1
    assert got["none"]["sealed_bytes"] > doc["sample_bytes"]
    for spec in ("lz4:0", "gzip:1", "zstd:1", "zstd:9"):
        assert got[spec]["sealed_bytes"] < 0.5 * doc["sample_bytes"], spec
        assert got[spec]["seal_mb_s"] > 0 and got[spec]["unseal_mb_s"] > 0
    assert got["zstd:9"]["sealed_bytes"] <= got["zstd:1"]["sealed_bytes"]
    assert doc["recommendation"] in got and doc["recommendation"] != "none"
    human = dbseal("bench", "dump.sql", "--sample", "64K", "--codecs", "none,zstd:1")
    assert human.rc == 0, human.stderr
    assert "recommended repository default: zstd:1" in human.out
    assert human.out.splitlines()[0].startswith("0.1 MB sample of dump.sql")


def test_bench_reads_stdin_and_writes_nothing_to_disk(dbseal: Runner, tmp_path: Path) -> None:
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    data = _sql_like(200_000)
    res = dbseal(
        "bench", "-", "--codecs", "zstd:3,lz4:0", "--json", stdin=data,
        env={**os.environ, "TMPDIR": str(tmp)},
    )  # fmt: skip
    assert res.rc == 0, res.stderr
    doc = json.loads(res.out)
    assert doc["input"] == "standard input" and doc["sample_bytes"] == len(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp", "work"]
    assert list(tmp.iterdir()) == [] and list(work.iterdir()) == []


def test_incompressible_data_gets_none(dbseal: Runner, tmp_path: Path) -> None:
    (tmp_path / "random.bin").write_bytes(os.urandom(300_000))
    res = dbseal("bench", "random.bin", "--codecs", "none,zstd:1,lz4:0", "--json")
    assert res.rc == 0, res.stderr
    assert json.loads(res.out)["recommendation"] == "none"


def test_bad_inputs_are_one_line_errors(dbseal: Runner) -> None:
    res = dbseal("bench", "no-such-file.sql")
    assert res.rc != 0 and "no-such-file.sql" in res.stderr and "Traceback" not in res.stderr
    res = dbseal("bench", "-", "--codecs", "zstd:99", stdin=b"x" * 1000)
    assert res.rc == 2 and "zstd" in res.stderr and "Traceback" not in res.stderr
    res = dbseal("bench", "-", "--sample", "lots", stdin=b"x")
    assert res.rc == 2 and "bad size" in res.stderr
