"""Retention policies over two simulated years: exactly which backups are kept, and why.

The repository: one backup a day at 02:00 UTC from 2025-01-01 to 2026-12-06, and a
second one at 14:00 on 2026-12-06; "now" is Monday 2026-12-07 12:00 UTC.
"""

from __future__ import annotations

import datetime

import pytest

from dbseal.catalog.retention import (
    Candidate,
    RetentionPolicy,
    WithinRule,
    plan_source,
)

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 7, 12, tzinfo=UTC)


def _bid(t: datetime.datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ") + "-00000000"


def _history() -> list[Candidate]:
    out, t = [], datetime.datetime(2025, 1, 1, 2, tzinfo=UTC)
    while t <= datetime.datetime(2026, 12, 6, 2, tzinfo=UTC):
        out.append(Candidate(_bid(t), "shop", t, "ok"))
        t += datetime.timedelta(days=1)
    last = datetime.datetime(2026, 12, 6, 14, tzinfo=UTC)
    out.append(Candidate(_bid(last), "shop", last, "ok"))
    return out


def kept(policy: RetentionPolicy, backups: list[Candidate] | None = None) -> dict[str, list[str]]:
    """id's time ("2026-12-06T14") -> reasons, for the kept backups."""
    decisions = plan_source(backups if backups is not None else _history(), policy, NOW)
    return {d.started[:13]: d.reasons for d in decisions if d.keep}


def test_history_has_two_years() -> None:
    assert len(_history()) == 706


def test_keep_last_keeps_the_n_newest_and_numbers_them() -> None:
    assert kept(RetentionPolicy(last=3)) == {
        "2026-12-06T14": ["last 1", "newest good"],
        "2026-12-06T02": ["last 2"],
        "2026-12-05T02": ["last 3"],
    }


def test_keep_daily_keeps_the_newest_of_each_of_the_n_newest_days() -> None:
    got = kept(RetentionPolicy(daily=3))
    assert got == {
        "2026-12-06T14": ["daily 2026-12-06", "newest good"],
        "2026-12-05T02": ["daily 2026-12-05"],
        "2026-12-04T02": ["daily 2026-12-04"],
    }, "of the two backups of 2026-12-06 the newer one is kept"


def test_keep_weekly_uses_iso_weeks() -> None:
    got = kept(RetentionPolicy(weekly=-1))
    assert got["2026-12-06T14"] == ["weekly 2026-W49", "newest good"]
    assert got["2026-11-29T02"] == ["weekly 2026-W48"]
    # Monday 2025-12-29 .. Sunday 2026-01-04 is ISO week 2026-W01: its newest is Jan 4th
    assert got["2026-01-04T02"] == ["weekly 2026-W01"]
    assert got["2025-12-28T02"] == ["weekly 2025-W52"]
    assert "2025-12-31T02" not in got, "not a week of its own (it is not 2025-W01)"
    # 2025-01-01 (Wednesday) is in ISO week 2025-W01 (Mon 2024-12-30 .. Sun 2025-01-05)
    assert got["2025-01-05T02"] == ["weekly 2025-W01"]
    assert len(got) == 101


def test_keep_monthly_and_yearly() -> None:
    assert kept(RetentionPolicy(monthly=3)) == {
        "2026-12-06T14": ["monthly 2026-12", "newest good"],
        "2026-11-30T02": ["monthly 2026-11"],
        "2026-10-31T02": ["monthly 2026-10"],
    }
    assert kept(RetentionPolicy(yearly=5)) == {
        "2026-12-06T14": ["yearly 2026", "newest good"],
        "2025-12-31T02": ["yearly 2025"],
    }, "only two years have backups: five units keep two"


def test_keep_within_is_relative_to_the_newest_backup_not_now() -> None:
    policy = RetentionPolicy(within=WithinRule(datetime.timedelta(days=3), "3d"))
    assert kept(policy) == {
        "2026-12-06T14": ["within 3d", "newest good"],
        "2026-12-06T02": ["within 3d"],
        "2026-12-05T02": ["within 3d"],
        "2026-12-04T02": ["within 3d"],
    }
    stopped = [c for c in _history() if c.started.year == 2025]  # no backups for a year
    assert set(kept(policy, stopped)) == {
        "2025-12-31T02",
        "2025-12-28T02",
        "2025-12-30T02",
        "2025-12-29T02",
    }, "a source that stopped backing up keeps its last days (the bound is inclusive)"


def test_rules_are_a_union_and_each_kept_backup_shows_every_reason() -> None:
    got = kept(RetentionPolicy(last=2, daily=3, monthly=2, yearly=2))
    assert got == {
        "2026-12-06T14": [
            "last 1",
            "daily 2026-12-06",
            "monthly 2026-12",
            "yearly 2026",
            "newest good",
        ],
        "2026-12-06T02": ["last 2"],
        "2026-12-05T02": ["daily 2026-12-05"],
        "2026-12-04T02": ["daily 2026-12-04"],
        "2026-11-30T02": ["monthly 2026-11"],
        "2025-12-31T02": ["yearly 2025"],
    }


def test_a_typical_policy_over_two_years() -> None:
    got = kept(RetentionPolicy(daily=7, weekly=4, monthly=12, yearly=-1))
    days = {k for k, v in got.items() if any(r.startswith("daily") for r in v)}
    assert days == {f"2026-12-0{d}T02" for d in range(1, 6)} | {
        "2026-12-06T14",
        "2026-11-30T02",
    }
    weeks = sorted(r for v in got.values() for r in v if r.startswith("weekly"))
    assert weeks == ["weekly 2026-W46", "weekly 2026-W47", "weekly 2026-W48", "weekly 2026-W49"]
    months = [r for v in got.values() for r in v if r.startswith("monthly")]
    assert len(months) == 12 and "monthly 2026-01" in months and "monthly 2025-12" not in months
    assert got["2025-12-31T02"] == ["yearly 2025"]
    # W49's, December's and 2026's newest, and November's (11-30), are daily ones too
    assert len(got) == 7 + 3 + 10 + 1


def test_the_given_newest_good_backup_is_kept_whatever_the_policy() -> None:
    history = _history()
    restorable = history[-3]  # the two newer ones lost their key envelopes, say
    decisions = plan_source(history, RetentionPolicy(last=1), NOW, newest_good=restorable.id)
    keep = {d.id: d.reasons for d in decisions if d.keep}
    assert keep == {history[-1].id: ["last 1"], restorable.id: ["newest good"]}


def test_failed_backups_are_removed_after_their_age_and_never_count() -> None:
    failed_new = Candidate(
        "20261205T030000Z-f0000001", "shop", NOW - datetime.timedelta(days=2), "failed"
    )
    failed_old = Candidate(
        "20261120T030000Z-f0000002", "shop", NOW - datetime.timedelta(days=17), "failed"
    )
    backups = [*_history(), failed_new, failed_old]
    decisions = {d.id: d for d in plan_source(backups, RetentionPolicy(last=1), NOW)}
    assert decisions[failed_new.id].keep
    assert decisions[failed_new.id].reasons == ["failed, removable after 2026-12-12T12:00:00Z"]
    assert not decisions[failed_old.id].keep, "older than the default 7 days"
    assert decisions[_history()[-1].id].reasons == ["last 1", "newest good"], (
        "a newer failed backup is not the 'last' one"
    )
    short = RetentionPolicy(last=1, failed_within=datetime.timedelta(days=1))
    assert not {d.id: d for d in plan_source(backups, short, NOW)}[failed_new.id].keep


def test_the_parent_chain_of_a_kept_backup_is_kept() -> None:
    t = datetime.datetime(2026, 6, 1, tzinfo=UTC)
    base = Candidate("20260601T000000Z-0000000a", "shop", t, "ok")
    inc1 = Candidate(
        "20260602T000000Z-0000000b", "shop", t + datetime.timedelta(days=1), "ok", base.id
    )
    inc2 = Candidate(
        "20260603T000000Z-0000000c", "shop", t + datetime.timedelta(days=2), "ok", inc1.id
    )
    other = Candidate("20260530T000000Z-0000000d", "shop", t - datetime.timedelta(days=2), "ok")
    keep = {
        d.id: d.reasons
        for d in plan_source([base, inc1, inc2, other], RetentionPolicy(last=1), NOW)
        if d.keep
    }
    assert keep == {
        inc2.id: ["last 1", "newest good"],
        inc1.id: [f"parent of {inc2.id}"],
        base.id: [f"parent of {inc1.id}"],
    }


def test_an_empty_policy_is_empty() -> None:
    assert RetentionPolicy().empty
    assert RetentionPolicy(daily=0).empty
    assert not RetentionPolicy(daily=-1).empty


@pytest.mark.parametrize(
    ("manifest", "ok"),
    [
        ({"id": "x", "status": "damaged", "error": "bad"}, False),
        ({"id": "x", "status": "ok", "started": "not a time"}, False),
        ({"id": "20251231T230000Z-00000001", "status": "ok"}, True),
        ({"id": "x", "status": "ok", "started": "2026-01-01T00:00:00+01:00", "name": "a"}, True),
    ],
)
def test_damaged_manifests_are_never_candidates(manifest: dict[str, str], ok: bool) -> None:
    cand = Candidate.from_manifest(manifest)
    assert (cand is not None) == ok
    if cand is not None:
        assert cand.started == datetime.datetime(2025, 12, 31, 23, tzinfo=UTC), "in UTC"
