"""Keep secrets out of what dbseal writes for others to read (event log, syslog, pings, hooks).

Messages never carry a secret by design (docs/errors.md); this is the second line:
a URL's userinfo password (``scheme://user:PASSWORD@host``) becomes ``***``, and a
healthchecks-style ping URL (a capability: whoever knows it can ping) is shown by host
only (:func:`url_host`).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):[^@/\s]*@")


def redact_text(text: str) -> str:
    """``mysql://u:pw@h/db`` -> ``mysql://u:***@h/db`` anywhere in ``text``."""
    return _USERINFO.sub(r"\g<head>:***@", text)


def redact(value: Any) -> Any:
    """:func:`redact_text` applied to every string inside dicts, lists and tuples."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def url_without_credentials(url: str) -> str:
    """A repository URL without any userinfo (``s3://key:secret@bucket`` -> ``s3://bucket``)."""
    if "://" not in url:
        return url
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_host(url: str) -> str:
    """Only the host (and port) of a URL: ``https://hc-ping.com/UUID`` -> ``hc-ping.com``."""
    return urllib.parse.urlsplit(url).netloc.rpartition("@")[2] or "?"
