"""The one way dbseal writes a size for people: IEC units with ``B`` (KiB, MiB, GiB...).

Machines get exact integer bytes (``--json``); only human output goes through here.
"""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: object) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 GiB``; ``-`` when ``n`` is not a number of bytes."""
    if isinstance(n, bool) or not isinstance(n, int | float):
        return "-"
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
