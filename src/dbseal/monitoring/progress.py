"""A terminal progress display (rich): bytes, rate, elapsed time and ETA."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from dbseal.monitoring.sizes import human_size


class _SizeColumn(ProgressColumn):
    """``1.2 GiB/3.4 GiB`` in the same IEC units as the rest of dbseal (rich's are decimal)."""

    def render(self, task: Task) -> Text:
        total = f"/{human_size(int(task.total))}" if task.total is not None else ""
        return Text(f"{human_size(int(task.completed))}{total}", style="progress.download")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{human_size(int(speed))}/s" if speed else "?", style="progress.data.speed")


class ProgressReporter:
    """Shows ``progress`` events as a bar on stderr; other events as short lines."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def _start(self, label: str, expected: int | None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            _SizeColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=expected)

    def event(self, kind: str, **fields: Any) -> None:
        if kind in ("backup.start", "restore.phase"):
            self.close()
            self._start(str(fields.get("label", kind)), fields.get("expected_bytes"))
        elif kind == "progress" and self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=fields.get("bytes", 0))
        elif kind in ("backup.end", "restore.end"):
            self.close()
        elif kind == "warning":
            self._console.print(f"[yellow]warning:[/] {fields.get('message', '')}")
        elif kind == "storage.retry":
            said = escape(
                f"of {fields.get('op')} in {fields.get('delay')} s: {fields.get('error')}"
            )
            self._console.print(
                f"[yellow]storage retry {fields.get('attempt')}[/] {said}", highlight=False
            )

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
