"""The report's charts, drawn with matplotlib's SVG backend and inlined into the HTML.

Why matplotlib: it is the most widely used and longest-maintained Python plotting
library (Debian and conda ship it, releases are regular), it renders SVG with no
browser, JavaScript or network, and ``svg.fonttype = none`` keeps the text as real
text: it takes the page's font, is selectable and is read by screen readers. Each
chart gets a unique ``svg.hashsalt`` so ids inside several inline SVGs never clash,
and no date metadata, so the same facts give the same bytes.

Every chart is also given as a table in the HTML (its text alternative).
"""

from __future__ import annotations

import datetime
import io
import re
from typing import Any

import matplotlib

matplotlib.use("svg")
import matplotlib.dates as _mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from dbseal.report.collect import parse_time

# matplotlib's own annotations are narrower than what it accepts (dates as x values):
# the axes and the dates module are used untyped, the rest is typed
mdates: Any = _mdates

# Okabe-Ito colours (distinguishable with colour-blindness); shapes differ too
OK, WARN, FAIL, GAP, LINE = "#009E73", "#E69F00", "#D55E00", "#F0E442", "#0072B2"
_RC: Any = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(fig: Figure, name: str, title: str) -> str:
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": f"dbseal-{name}"}):
        fig.savefig(
            buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight"
        )
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE: inline SVG
    text = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r"<svg \1", text, count=1)
    return text.replace(
        "<svg ",
        f'<svg role="img" aria-labelledby="{name}-title" class="chart" preserveAspectRatio="xMinYMin meet" ',
        1,
    ).replace(">", f'><title id="{name}-title">{_escape(title)}</title>', 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timeline(facts: dict[str, Any]) -> str:
    """Backups per day per source (one lane each), failures marked, long gaps shaded."""
    sources = facts["sources"]
    since = parse_time(facts["period"]["since"])
    until = parse_time(facts["period"]["until"])
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(figsize=(9, 0.7 + 0.55 * max(1, len(sources))))
        ax: Any = axes
        for lane, s in enumerate(sources):
            for g in s["gaps"]:
                a, b = parse_time(g["from"]), parse_time(g["to"])
                ax.barh(
                    lane,
                    mdates.date2num(b) - mdates.date2num(a),
                    left=mdates.date2num(a),
                    height=0.8,
                    color=GAP,
                    alpha=0.8,
                    zorder=1,
                )
            for kind, colour, marker in (
                ("ok", OK, "o"),
                ("warnings", WARN, "^"),
                ("failed", FAIL, "X"),
            ):
                days = [datetime.date.fromisoformat(d) for d, n in s["per_day"].items() if n[kind]]
                if days:
                    ax.scatter(
                        days,
                        [lane] * len(days),
                        s=14 if kind == "ok" else 36,
                        c=colour,
                        marker=marker,
                        zorder=2,
                        linewidths=0.3,
                        edgecolors="black" if kind != "ok" else "none",
                    )
        marks = (("good", OK, "o"), ("warnings", WARN, "^"), ("failed", FAIL, "X"))
        handles: list[Any] = [
            Line2D([], [], color=c, marker=m, linestyle="none", label=k) for k, c, m in marks
        ]
        handles.append(Patch(color=GAP, alpha=0.8, label="gap longer than max_age"))
        ax.set_yticks(range(len(sources)), [s["name"] for s in sources])
        ax.set_ylim(-0.6, len(sources) - 0.4)
        ax.invert_yaxis()
        if since and until:
            ax.set_xlim(since, until)
        ax.xaxis.set_major_locator(mdates.MonthLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
        ax.tick_params(axis="x", labelrotation=45)
        ax.legend(
            handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False
        )
        ax.grid(axis="x", alpha=0.3)
        return _svg(fig, "timeline", "Backups per day per source, with failures and gaps")


def restore_times(facts: dict[str, Any]) -> str | None:
    """Restore time (s) of every restore-level verification per source, and the objective."""
    runs = [
        v for v in facts["verifications"] if v["level"] == "restore" and v["restore_s"] is not None
    ]
    if not runs:
        return None
    rto = facts["objectives"]["rto_s"]
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(figsize=(9, 3.2))
        ax: Any = axes
        markers = "osD^vP*"
        for i, name in enumerate(sorted({v["source"] for v in runs})):
            mine = [v for v in runs if v["source"] == name]
            xs = [parse_time(v["started"]) for v in mine]
            ax.plot(
                xs,
                [v["restore_s"] for v in mine],
                marker=markers[i % len(markers)],
                markersize=4,
                linewidth=1,
                label=name,
            )
            bad = [
                (x, v["restore_s"]) for x, v in zip(xs, mine, strict=True) if v["result"] != "ok"
            ]
            if bad:
                ax.scatter(
                    *zip(*bad, strict=True),
                    marker="X",
                    s=60,
                    c=FAIL,
                    zorder=3,
                    label=f"{name}: failed",
                )
        if rto:
            ax.axhline(
                rto, color=FAIL, linestyle="--", linewidth=1, label=f"objective (RTO) {rto:.0f} s"
            )
        since, until = parse_time(facts["period"]["since"]), parse_time(facts["period"]["until"])
        if since and until:
            ax.set_xlim(since, until)
        ax.xaxis.set_major_locator(mdates.MonthLocator())
        ax.set_ylabel("restore time (s)")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
        ax.tick_params(axis="x", labelrotation=45)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig, "rto", "Restore time per source over time, against the objective")
