"""Which engine serves a source: the CLI's one way into an engine.

``ops`` and the layers below it never import an engine; the CLI asks here for the
:class:`~dbseal.engines.base.Engine` of a URL's scheme (or a name) and hands ``ops`` what it
builds. A new engine is a new folder ``engines/<name>/`` with a module ``engine`` whose
``ENGINE`` implements the protocol, plus a line in each table below.
"""

from __future__ import annotations

import importlib

from dbseal.engines.base import Engine
from dbseal.errors import UsageError

_ENGINES = {
    "mariadb": "dbseal.engines.mariadb.engine",
    "postgresql": "dbseal.engines.postgresql.engine",
}
_SCHEMES = {
    "mysql": "mariadb",
    "mariadb": "mariadb",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}
DEFAULT_ENGINE = "mariadb"  # parses (and refuses) URLs of an unknown scheme


def engine_named(name: str) -> Engine:
    if name not in _ENGINES:
        raise UsageError(
            f"unknown database engine {name!r}", hint=f"known: {', '.join(sorted(_ENGINES))}"
        )
    engine: Engine = importlib.import_module(_ENGINES[name]).ENGINE
    return engine


def engine_for_url(url: str) -> Engine:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    return engine_named(_SCHEMES.get(scheme, DEFAULT_ENGINE))


__all__ = ["DEFAULT_ENGINE", "engine_for_url", "engine_named"]
