"""Sizes for people: IEC units everywhere, the progress bar included."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dbseal.monitoring.progress import ProgressReporter
from dbseal.monitoring.sizes import human_size


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (3 * 1024**3 + 1024**3 // 2, "3.5 GiB"),
        (2 * 1024**4, "2.0 TiB"),
        (None, "-"),
        ("12", "-"),
    ],
)
def test_human_size(n: object, text: str) -> None:
    assert human_size(n) == text


def test_the_progress_bar_counts_in_iec_units() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150, color_system=None)
    progress = ProgressReporter(console)
    progress.event("backup.start", label="backup", expected_bytes=100 * 1024**2)
    progress.event("progress", bytes=50 * 1024**2)
    assert progress._progress is not None
    progress._progress.refresh()
    progress.close()
    text = out.getvalue()
    assert "50.0 MiB/100.0 MiB" in text, text
    assert " MB" not in text and "kB" not in text
