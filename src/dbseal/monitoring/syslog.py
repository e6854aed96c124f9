"""One summary line per command to syslog/journald (``--syslog``, ``[log] syslog``).

``dbseal[PID]: backup shop ok 12.3 MiB in 4.1 s id=...`` at priority ``info``, a failure
at ``err``, through :class:`logging.handlers.SysLogHandler` on a Unix socket (default
``/dev/log``, which journald also serves). A missing or refusing socket never fails the
command: :func:`send_summary` returns the problem for a warning instead.
"""

from __future__ import annotations

import logging
import logging.handlers
import os

DEFAULT_SOCKET = "/dev/log"


class _Handler(logging.handlers.SysLogHandler):
    problem: str | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        import sys

        exc = sys.exc_info()[1]
        self.problem = f"{type(exc).__name__}: {exc}" if exc else "unknown error"


def send_summary(line: str, failed: bool, socket_path: str | None = None) -> str | None:
    """Send ``line``; None when it was sent, else why not (one line)."""
    address = socket_path or DEFAULT_SOCKET
    handler = _Handler(address=address, facility=logging.handlers.SysLogHandler.LOG_USER)
    handler.ident = f"dbseal[{os.getpid()}]: "
    level = logging.ERROR if failed else logging.INFO
    record = logging.makeLogRecord(
        {"msg": line, "levelno": level, "levelname": logging.getLevelName(level)}
    )
    try:
        handler.emit(record)  # errors land in handleError: never raised
    finally:
        handler.close()
    return f"syslog socket {address}: {handler.problem}" if handler.problem else None
