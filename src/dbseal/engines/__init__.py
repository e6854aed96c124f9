"""Database engines, one folder each (``engines/mariadb/``), behind the protocols of
:mod:`dbseal.engines.base`; the CLI finds one through :mod:`dbseal.engines.registry`."""
