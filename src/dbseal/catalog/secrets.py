"""Where credentials sealed inside the repository live: ``secrets/<NAME>.dbseal``.

The catalog knows only the layout and the names; sealing and opening them is
:mod:`dbseal.ops.secrets` (the catalog never imports the crypto or ops layers).
"""

from __future__ import annotations

import re

from dbseal.errors import UsageError
from dbseal.storage import Handle

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def secret_handle(name: str) -> Handle:
    """The handle of sealed secret ``name``; refuses a name that is not a plain word."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid secret name {name!r}", hint="use letters, digits, '_', '.', '-'")
    return Handle("secret", f"{name}.dbseal")
