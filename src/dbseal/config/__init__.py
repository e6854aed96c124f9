"""dbseal.toml: where it is looked up, its schema, and the checks before it is trusted.

* :mod:`dbseal.config.loader`: ``find_config`` / ``load_config`` (validated, paths resolved);
* :mod:`dbseal.config.schema`: every key, its type and allowed values (pydantic, strict);
* :mod:`dbseal.config.locate`: the line of a key in the file, for error messages;
* :mod:`dbseal.config.trust`: refuse files others could write (they name commands dbseal runs).

This package only holds values the light-weight argument parser needs; the rest is imported
when a config file is actually read (start-up time matters).
"""

from __future__ import annotations

SSL_MODES = ("disabled", "preferred", "required", "verify-ca", "verify-identity")
