"""`dbseal report` on a repository with a year of history (reportkit), as a user runs it.

One module-scoped fixture runs the command once with every output (HTML, PDF, --json,
the keyring, an event log) and opens the HTML once in headless Chromium for a
screenshot and once for its DOM: Chromium is slow on a small machine.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from reportkit import (
    CRM_WARNING_DAYS,
    SHOP_FAILED_DAYS,
    SINCE,
    UNTIL,
    Year,
    build_year,
    day,
    write_event_log,
    write_sealed,
)

from cli.clikit import Result, clean_env, run_dbseal
from dbseal.catalog.repository import RepoConfig, Repository
from dbseal.crypto.x25519 import X25519Identity
from dbseal.storage import open_backend

S3Place = Any  # tests/conftest.py: .bucket(), .url(), .endpoint

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which("pdfinfo") is None,
    reason="chromium and pdfinfo are installed by `make bootstrap` (scripts/bootstrap.sh)",
)
HEADINGS = (
    "Summary",
    "Inventory",
    "Timeline",
    "Encryption",
    "Key lifecycle",
    "Restore evidence",
    "Transit",
    "Integrity statement",
)


@dataclass
class Rendered:
    year: Year
    result: Result
    facts: dict[str, Any]
    html: Path
    pdf: Path
    screenshot: Path
    dom: str


def _period(*extra: object) -> list[object]:
    return ["--since", SINCE.date().isoformat(), "--until", UNTIL.date().isoformat(), *extra]


def _objectives(year: Year) -> list[object]:
    return ["--max-age", "50h", "--rto", "2m", "--rotation-days", "150", "--escrow", year.escrow]


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, timeout=180, check=True)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Year:
    home = tmp_path_factory.mktemp("report-year")
    y = build_year(home)
    # one real, keyless verify run through the command (now: inside the period)
    newest = y.ids["shop"][-1]
    run_dbseal(home, "verify", "--repo", y.repo_dir, newest, "--level", "integrity")
    write_event_log(home / "events.jsonl")
    return y


@pytest.fixture(scope="module")
def rendered(year: Year) -> Rendered:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is installed by `make bootstrap`")
    home = year.home
    html, pdf, shot = home / "report.html", home / "report.pdf", home / "report.png"
    res = run_dbseal(
        home,
        "report",
        "--repo",
        year.repo_dir,
        *_period(),
        *_objectives(year),
        *year.keyring_opts(),
        "--events",
        home / "events.jsonl",
        "-o",
        html,
        "--pdf",
        pdf,
        "--json",
        timeout=300,
    )
    assert res.rc == 0, res.stderr
    _chromium(
        home / "profile",
        "--hide-scrollbars",
        "--window-size=1280,2000",
        f"--screenshot={shot}",
        html.as_uri(),
    )
    dom = _chromium(home / "profile", "--dump-dom", html.as_uri()).stdout.decode()
    return Rendered(year, res, json.loads(res.stdout), html, pdf, shot, dom)


def _source(facts: dict[str, Any], name: str) -> dict[str, Any]:
    (row,) = [s for s in facts["sources"] if s["name"] == name]
    return row


# --- facts ------------------------------------------------------------------------------
def test_inventory_counts_engines_and_gaps(rendered: Rendered) -> None:
    f, y = rendered.facts, rendered.year
    assert f["dbseal_report"] == 1
    shop, crm, legacy = (_source(f, n) for n in ("shop", "crm", "legacy"))
    assert shop["backups"] == len(y.ids["shop"]) and shop["failed"] == len(SHOP_FAILED_DAYS)
    assert shop["good"] == len(y.ids["shop"]) - len(SHOP_FAILED_DAYS)
    assert crm["warnings"] == len(CRM_WARNING_DAYS) and crm["failed"] == 0
    assert (shop["engines"], crm["engines"]) == (["MariaDB"], ["MySQL"])
    assert crm["server_versions"] == ["8.0.36"] and shop["methods"] == ["mysqldump"]
    # the 6 days without a shop backup: one gap of 7 days; legacy stopped on day 240
    (gap,) = shop["gaps"]
    assert gap["hours"] == 7 * 24 and not gap["ongoing"]
    assert gap["from"] == day(199, 2).isoformat()
    assert [g["ongoing"] for g in legacy["gaps"]] == [True]
    assert legacy["newest_good"] == day(240, 4).isoformat()
    assert crm["gaps"] == []


def test_summary_names_what_needs_attention(rendered: Rendered) -> None:
    s = rendered.facts["summary"]
    attention = "\n".join(s["attention"])
    assert "source legacy is stale" in attention
    assert "source shop: 6 failed backup(s)" in attention
    assert "source shop: 1 gap(s)" in attention
    assert f"{183 + 121} backup(s) have no escrow recipient" in attention
    assert "key backup:2 is overdue for rotation" in attention
    assert "1 verification run(s) failed" in attention
    assert "source legacy: no restore test" in attention
    assert "source shop: 1 restore test(s) took longer than the objective" in attention
    assert "crm" not in attention.replace("no escrow", "")  # crm is fine apart from escrow
    assert any("are encrypted (cobblestone-256" in line for line in s["fine"])
    assert any("121 backup(s) can no longer be opened" in line for line in s["notes"])


def test_encryption_shows_who_opens_each_backup_today(rendered: Rendered) -> None:
    f, y = rendered.facts, rendered.year
    rows = {r["id"]: r for r in f["encryption"]}
    assert len(rows) == sum(len(v) for v in y.ids.values())
    assert all(
        r["suite"].startswith("cobblestone-256") and r["codec"] == "zstd:1" for r in rows.values()
    )
    before = [b for b in y.ids["shop"] if b < day(180).strftime("%Y%m%dT")]
    after = [b for b in y.ids["shop"] if b >= day(181).strftime("%Y%m%dT")]
    for bid in before:  # rewrapped from backup:1 to backup:2 on day 190
        r = rows[bid]
        assert r["rewrapped"] and r["key_versions"] == ["backup:2"], r
        assert any(k.endswith("backup:1") for k in r["recipients_at_backup"])
        assert r["envelope_written"] == day(190, 9).isoformat()
    assert all(not rows[b]["rewrapped"] and rows[b]["key_versions"] == ["backup:2"] for b in after)
    assert all(rows[b]["escrow"] for b in y.ids["shop"])
    assert not any(rows[b]["escrow"] for b in y.ids["crm"] + y.ids["legacy"])
    # legacy was sealed for old:1 only, destroyed on day 300: unreadable, listed as such
    shredded = {r["id"]: r for r in f["shredding"]}
    assert set(shredded) == set(y.ids["legacy"])
    assert all(r["openable_today"] is False for r in shredded.values())
    assert shredded[y.ids["legacy"][0]]["withdrawn_keys"][0]["state"] == "destroyed"


def test_key_lifecycle_from_the_keyring_and_the_event_log(rendered: Rendered) -> None:
    keys = rendered.facts["keys"]
    assert keys["from_keyring"]
    versions = {(k["key"], k["version"]): k for k in keys["versions"]}
    assert versions[("backup", 1)]["state"] == "retired"
    assert versions[("backup", 2)]["state"] == "active" and versions[("backup", 2)]["rotation_due"]
    assert versions[("backup", 2)]["age_days"] == pytest.approx(365 - 180 - 8 / 24, abs=0.1)
    assert versions[("old", 1)]["state"] == "destroyed"
    assert versions[("old", 1)]["backups_it_opens"] == 121
    assert versions[("backup", 1)]["backups_it_opens"] == 0
    events = [(e["kind"], e["key"], e["via"], e["date"][:10]) for e in keys["events"]]
    assert ("rotation", "backup:2", "repository", day(180).date().isoformat()) in events
    assert ("retired", "backup:1", "repository", day(191).date().isoformat()) in events
    assert ("destroyed", "old:1", "repository", day(300).date().isoformat()) in events
    assert (
        "rewrap",
        "keyring " + rendered.facts["access"]["keyring"][:8] + " backup:2",
        "repository",
        day(190).date().isoformat(),
    ) in events
    logged = [e for e in keys["events"] if e["via"] == "event log"]
    assert [(e["kind"], e["detail"]) for e in logged] == [("rotation", "`dbseal keys rotate`")]
    log = rendered.facts["event_log"]
    assert log["lines"] == 4 and log["unreadable_lines"] == 1


def test_restore_evidence_per_source(rendered: Rendered) -> None:
    f, y = rendered.facts, rendered.year
    restore = {r["source"]: r for r in f["restore"]}
    assert restore["shop"]["restore_runs"] == y.restore_runs["shop"] == 12
    assert restore["shop"]["failed_runs"] == 1 and restore["shop"]["over_rto"] == 1
    assert restore["shop"]["max_restore_s"] == 150.0
    assert restore["crm"]["restore_runs"] == 4 and restore["crm"]["over_rto"] == 0
    assert restore["legacy"]["restore_runs"] == 0 and restore["legacy"]["newest"] is None
    runs = f["verifications"]
    assert all(v["authenticated"] for v in runs if v["level"] != "integrity")
    (real,) = [v for v in runs if v["level"] == "integrity"]  # the `dbseal verify` of the fixture
    assert real["backup_id"] == y.ids["shop"][-1] and real["result"] == "ok"
    assert not real["authenticated"]
    newest = restore["shop"]["newest"]
    assert newest["started"] == max(
        v["started"] for v in runs if v["source"] == "shop" and v["level"] == "restore"
    )


def test_transit_records_tls_and_storage(rendered: Rendered) -> None:
    t = rendered.facts["transit"]
    db = {(r["source"], r["tls_version"]): r for r in t["database"]}
    assert db[("shop", "TLSv1.3")]["cipher"] == "TLS_AES_256_GCM_SHA384"
    assert db[("legacy", "TLSv1.2")]["ssl_mode"] == "verify-ca"
    assert db[("crm", "none (local socket)")]["backups"] == 183
    assert t["storage"]["kind"] == "local directory"


def test_integrity_statement_hashes_the_manifests_as_stored(rendered: Rendered) -> None:
    f, y = rendered.facts, rendered.year
    integ = f["integrity"]
    lines = []
    for row in integ["manifests"]:
        data = (y.repo_dir / "manifests" / f"{row['id']}.json").read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        lines.append(f"{row['sha256']}  manifests/{row['id']}.json\n")
    # what `LC_ALL=C sha256sum manifests/*.json | sha256sum` prints when the report covers all
    listing = subprocess.run(
        "LC_ALL=C sha256sum manifests/*.json",
        shell=True,
        cwd=y.repo_dir,
        capture_output=True,
        check=True,
    ).stdout
    assert listing.decode() == "".join(lines)
    assert integ["listing_sha256"] == hashlib.sha256(listing).hexdigest()
    # the report's own hashes, as printed, are those of the files written
    w = f["written"]
    assert w["html"]["sha256"] == hashlib.sha256(rendered.html.read_bytes()).hexdigest()
    assert w["pdf"]["sha256"] == hashlib.sha256(rendered.pdf.read_bytes()).hexdigest()
    assert integ["listing_sha256"] in rendered.html.read_text()


# --- the HTML, as a browser shows it --------------------------------------------------------
def test_html_is_self_contained_and_accessible(rendered: Rendered) -> None:
    text = rendered.html.read_text()
    assert "<script" not in text.lower() and "<link" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text), "external reference"
    assert "@import" not in text
    assert not re.search(r"url\(\s*['\"]?(?!#)", text), "a url() that is not a fragment of the page"
    assert text.count('<svg role="img"') == 2  # timeline and restore times
    assert text.count("<figure") == text.count("<figcaption>") == 2
    assert "@media print" in text and "@media (max-width: 700px)" in text
    assert 'aria-describedby="timeline-table"' in text and 'id="timeline-table"' in text


def test_headless_chromium_shows_the_report(rendered: Rendered) -> None:
    img = Image.open(rendered.screenshot).convert("RGB")
    assert img.size == (1280, 2000)
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is (nearly) blank"
    # not white except for a corner: the top half has the title, summary and inventory
    top = img.crop((0, 0, 1280, 1000)).convert("L")
    dark = sum(top.histogram()[:128])
    assert dark > 5000
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", rendered.dom)
    assert tuple(headings) == HEADINGS
    assert "What needs attention" in rendered.dom and "<svg" in rendered.dom


@needs_chromium
def test_pdf_has_pages_and_the_sections(rendered: Rendered) -> None:
    info = subprocess.run(
        ["pdfinfo", str(rendered.pdf)], capture_output=True, check=True, text=True
    ).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    assert 10 <= pages <= 200, info
    text = subprocess.run(
        ["pdftotext", str(rendered.pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    for heading in HEADINGS:
        assert heading in text
    assert re.search(r"^Page size:.*\(A4\)", info, re.M), info  # from the print stylesheet


# --- keyless, and what goes wrong ------------------------------------------------------------
def test_keyless_report_infers_the_lifecycle_and_says_what_a_key_adds(year: Year) -> None:
    res = run_dbseal(
        year.home, "report", "--repo", year.repo_dir, *_period(), *_objectives(year), "--json"
    )
    assert res.rc == 0, res.stderr
    f = json.loads(res.stdout)
    assert f["access"]["keyless"] and f["access"]["keyring"] is None
    assert any("with the keyring" in line for line in f["access"]["what_a_key_adds"])
    versions = {(k["key"], k["version"]): k for k in f["keys"]["versions"]}
    assert {k["state"] for k in versions.values()} == {"unknown (no keyring)"}
    # rotation dated by the first backup sealed for backup:2; the rewrap by the envelopes
    events = {(e["kind"], e["date"]) for e in f["keys"]["events"]}
    assert ("rotation", day(180, 2).isoformat()) in events
    assert ("rewrap", day(190, 9).isoformat()) in events
    assert not any(e["kind"] in ("retired", "destroyed") for e in f["keys"]["events"])
    assert versions[("backup", 2)]["age_days"] == pytest.approx(365 - 180 - 2 / 24, abs=0.1)
    # without key states, whether legacy still opens is unknown, not "yes"
    legacy = [r for r in f["encryption"] if r["source"] == "legacy"]
    assert {r["openable_today"] for r in legacy} == {None}
    assert f["written"] == {}


def test_source_filter_and_period(year: Year) -> None:
    since, until = day(100).date().isoformat(), day(130).date().isoformat()
    res = run_dbseal(
        year.home,
        "report",
        "--repo",
        year.repo_dir,
        "--since",
        since,
        "--until",
        until,
        "--source",
        "crm",
        "--max-age",
        "50h",
        "--json",
    )
    assert res.rc == 0, res.stderr
    f = json.loads(res.stdout)
    assert [s["name"] for s in f["sources"]] == ["crm"]
    assert f["sources"][0]["backups"] == 15  # every other day, days 100..128
    assert all(
        day(100) <= datetime.datetime.fromisoformat(r["started"]) < day(130)
        for r in f["encryption"]
    )
    assert len(f["integrity"]["manifests"]) == 15


def test_pdf_without_chromium_is_a_clear_error_and_writes_nothing(
    year: Year, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    res = run_dbseal(
        year.home,
        "report",
        "--repo",
        year.repo_dir,
        "-o",
        out,
        "--pdf",
        tmp_path / "r.pdf",
        env={"DBSEAL_CHROMIUM": str(tmp_path / "no-chromium")},
    )
    line = res.assert_error(56)
    assert "Chromium is not installed" in line and "apt-get install chromium" in line
    assert not out.exists() and not (tmp_path / "r.pdf").exists()


def test_missing_report_extra_says_what_to_install(year: Year, tmp_path: Path) -> None:
    """Jinja2 not importable (as without the extra): exit 57 and the pip line; --json alone works."""
    code = "import sys; sys.modules['jinja2'] = None; from dbseal.cli.main import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, "report", "--repo", str(year.repo_dir)]
    proc = subprocess.run(
        [*argv, "-o", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert proc.returncode == 57, proc.stderr
    assert "jinja2" in proc.stderr and "pip install 'dbseal[report]'" in proc.stderr
    assert not (tmp_path / "r.html").exists()
    proc = subprocess.run(
        [*argv, "--json"], capture_output=True, text=True, env=clean_env(), timeout=120
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["dbseal_report"] == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((), 2),  # nothing to write
        (("--since", "2026-05-01", "--until", "2026-04-01"), 2),
        (("--since", "last tuesday"), 2),
        (("--max-age", "soon"), 2),
        (("--escrow", "not-a-key"), 11),  # as for any recipient that is not an age1... key
    ],
)
def test_bad_options_are_one_line_errors(year: Year, args: tuple[str, ...], code: int) -> None:
    res = run_dbseal(
        year.home,
        "report",
        "--repo",
        year.repo_dir,
        *(("-q", *args) if not args else ("--json", *args)),
    )
    res.assert_error(code)


def test_a_damaged_manifest_is_reported_not_fatal(year: Year, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(year.repo_dir, repo)
    victim = year.ids["crm"][10]
    (repo / "manifests" / f"{victim}.json").write_text('{"dbseal_manifest": 1, "id": "trunc')
    res = run_dbseal(tmp_path, "report", "--repo", repo, *_period(), "--max-age", "50h", "--json")
    assert res.rc == 0, res.stderr
    f = json.loads(res.stdout)
    assert f["repository"]["damaged_manifests"] == [victim]
    assert any(
        "1 manifest(s) are damaged" in line and victim in line for line in f["summary"]["attention"]
    )
    assert victim not in {r["id"] for r in f["encryption"]}


def test_an_empty_period_and_an_unknown_source_need_attention(year: Year) -> None:
    res = run_dbseal(
        year.home, "report", "--repo", year.repo_dir, *_period(), "--source", "billing", "--json"
    )
    assert res.rc == 0, res.stderr
    f = json.loads(res.stdout)
    (billing,) = f["sources"]
    assert billing["name"] == "billing" and billing["backups"] == 0
    assert "source billing: no good backup in the period" in f["summary"]["attention"]
    assert f["encryption"] == [] and f["integrity"]["manifests"] == []


def test_s3_storage_and_its_encryption_settings(s3: S3Place, tmp_path: Path) -> None:
    url = s3.url(s3.bucket(), sse="AES256")
    escrow = X25519Identity.generate().recipient()
    config = RepoConfig(
        repository_id="ab" * 16, created=day(0).isoformat(), recipients=[escrow.encode()]
    )
    repo = Repository.create(open_backend(url), config)
    ids = [write_sealed(repo, [escrow], day(n, 2), "shop", "ok") for n in (300, 301, 302)]
    res = run_dbseal(tmp_path, "report", "--repo", url, *_period(), "--json")
    assert res.rc == 0, res.stderr
    f = json.loads(res.stdout)
    st = f["transit"]["storage"]
    assert st["kind"] == "S3-compatible object storage"
    assert st["server_side_encryption"] == "AES256"
    assert st["transport"] == "plain HTTP endpoint" and st["endpoint"] == s3.endpoint
    assert "?" not in st["location"]
    assert [r["id"] for r in f["encryption"]] == ids
    assert all(
        r["suite"].startswith("cobblestone-256") and not r["rewrapped"] for r in f["encryption"]
    )
    # x25519 only: whether the backups open does not depend on a keyring
    assert {r["openable_today"] for r in f["encryption"]} == {True}
    assert "testing" not in res.out  # the fake AWS secret key is never in the facts


def test_another_keyring_does_not_make_key_states_up(year: Year, tmp_path: Path) -> None:
    """A keyring that is not the one the backups name adds nothing: states stay unknown."""
    from reportkit import FAST_KDF

    from dbseal.crypto.keyring import Keyring
    from dbseal.crypto.secret import Secret

    (tmp_path / "pass").write_text("another passphrase")
    (tmp_path / "pass").chmod(0o600)
    Keyring.init(str(tmp_path / "ring"), Secret(b"another passphrase"), "backup", FAST_KDF)
    res = run_dbseal(
        year.home, "report", "--repo", year.repo_dir, *_period(), "--json",
        "--keyring", tmp_path / "ring", "--keyring-passphrase-file", tmp_path / "pass",
    )  # fmt: skip
    assert res.rc == 0, res.stderr
    f = json.loads(res.stdout)
    assert not f["access"]["keyless"]
    named = {
        (k["key"], k["version"], k["state"]) for k in f["keys"]["versions"] if k["backups_it_opens"]
    }
    unknown = "unknown (not in the keyring given)"
    assert named == {("backup", 2, unknown), ("old", 1, unknown)}
    legacy = {r["openable_today"] for r in f["encryption"] if r["source"] == "legacy"}
    shop = {r["openable_today"] for r in f["encryption"] if r["source"] == "shop"}
    assert legacy == {None} and shop == {True}  # shop also opens with its escrow age key
    assert f["shredding"] == []
