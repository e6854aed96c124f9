"""The HTML report: the facts through Jinja2 templates (autoescaped), charts inlined.

The page is one file: the stylesheet is inlined from ``templates/report.css`` and the
charts are inline SVG, so it opens offline and carries no script, font or external
reference. Presentation-only grouping (monthly tables, encryption groups) is done
here; the facts themselves are not changed.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from dbseal.monitoring.sizes import human_size
from dbseal.report import charts


def _when(text: object, with_time: bool = True) -> str:
    if not isinstance(text, str) or not text:
        return "—"
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError:
        return text
    return t.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    s = float(seconds)
    if s < 120:
        return f"{s:.1f} s"
    if s < 3 * 3600:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} days"


def monthly(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline chart's text alternative: per month, each source's counts as a phrase."""
    months: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for s in sources:
        for day, n in s["per_day"].items():
            months[day[:7]][s["name"]].update(n)
    rows = []
    for month, by_source in sorted(months.items()):
        cells = {}
        for s in sources:
            c = by_source.get(s["name"], Counter())
            parts = [f"{c['ok']} good"] + [f"{c[k]} {k}" for k in ("warnings", "failed") if c[k]]
            cells[s["name"]] = ", ".join(parts) if sum(c.values()) else "none"
        rows.append({"month": month, "cells": cells})
    return rows


def encryption_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Backups that share source, suite, codec, today's recipients and escrow, with date ranges."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        key = (
            r["source"],
            r["suite"],
            r["codec"],
            tuple(r["recipients"]),
            r["escrow"],
            r["shredded"],
        )
        groups[key].append(r)
    out = []
    for (source, suite, codec, recipients, escrow, shredded), members in groups.items():
        out.append(
            {
                "source": source,
                "suite": suite,
                "codec": codec,
                "recipients": list(recipients),
                "escrow": escrow,
                "shredded": shredded,
                "count": len(members),
                "rewrapped": sum(1 for m in members if m["rewrapped"]),
                "first": members[0]["started"],
                "last": members[-1]["started"],
            }
        )
    out.sort(key=lambda g: (g["source"], g["first"] or ""))
    return out


def shredding_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Affected backups grouped by source, withdrawn keys and whether they still open."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        keys = tuple(
            f"{k['key']} ({k['state']} {str(k['on'] or '')[:10]})" for k in r["withdrawn_keys"]
        )
        groups[(r["source"], keys, r["shredded"], r["openable_today"])].append(r)
    return [
        {
            "source": source,
            "withdrawn": list(keys),
            "shredded": shredded,
            "openable_today": openable,
            "count": len(members),
            "first": members[0]["started"],
            "last": members[-1]["started"],
        }
        for (source, keys, shredded, openable), members in groups.items()
    ]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dbseal.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, duration=_duration, size=human_size)
    return env


def render_html(facts: dict[str, Any]) -> str:
    env = _environment()
    assert env.loader is not None
    css = env.loader.get_source(env, "report.css")[0]
    rto_chart = charts.restore_times(facts)
    return env.get_template("report.html.j2").render(
        f=facts,
        css=Markup(css),
        timeline_svg=Markup(charts.timeline(facts)),
        rto_svg=Markup(rto_chart) if rto_chart else None,
        monthly=monthly,
        groups=encryption_groups(facts["encryption"]),
        shredded=shredding_groups(facts["shredding"]),
    )
