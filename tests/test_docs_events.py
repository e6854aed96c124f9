"""docs/events.md documents every event kind that can reach the event log."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_EMIT = re.compile(r"\b(?:event|own)\(\s*\"([a-z_]+(?:\.[a-z_]+)*)\"")


def _emitted() -> set[str]:
    kinds: set[str] = set()
    for path in (ROOT / "src" / "dbseal").rglob("*.py"):
        if "server" in path.relative_to(ROOT / "src" / "dbseal").parts:
            continue  # `dbseal serve` reports receiver.* on its own stderr (docs/events.md)
        kinds.update(_EMIT.findall(path.read_text()))
    return kinds


def test_every_event_kind_is_documented() -> None:
    kinds = _emitted()
    # the scan itself works: multi-line calls, the library's and the CLI's own events
    assert {"backup.end", "storage.retry", "command.end", "hook.end", "verify.end"} <= kinds
    doc = (ROOT / "docs" / "events.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", doc, re.M))
    missing = sorted(k for k in kinds - {"progress"} if k not in documented)
    assert not missing, f"document these event kinds in docs/events.md: {missing}"


def test_every_placeholder_is_documented() -> None:
    from dbseal.config.schema_events import PLACEHOLDERS

    doc = (ROOT / "docs" / "events.md").read_text()
    missing = [p for p in PLACEHOLDERS if f"| `{{{p}}}` |" not in doc]
    assert not missing, missing
