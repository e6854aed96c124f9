"""Throwaway database servers for tests, demos and restore verification.

:class:`MariaDBSandbox` starts a private MariaDB server on loopback (with throwaway TLS
certificates from :func:`generate_tls_files`) and removes every trace of it on ``stop()``.
"""

from dbseal.crypto.pki import DEFAULT_SERVER_NAMES, TLSFiles, generate_tls_files
from dbseal.sandbox.mariadb import MariaDBSandbox, find_binaries

__all__ = [
    "DEFAULT_SERVER_NAMES",
    "MariaDBSandbox",
    "TLSFiles",
    "find_binaries",
    "generate_tls_files",
]
