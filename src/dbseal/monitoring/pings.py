"""Healthchecks.io-style pings: ``URL/start``, then ``URL`` (success) or ``URL/fail``.

A dead, slow or failing endpoint never fails or blocks the command: each ping has a
total time budget (``timeout``, default 10 s, covering its retries), at most
``retries`` more attempts after a network error, a timeout or an HTTP 5xx/429, and
every failure is only reported (a ``ping.failed`` warning event). The start ping runs
in the background while the command works. urllib (stdlib): one POST, no session, no
dependency worth adding. A dead endpoint costs a command at most ``timeout`` + 1 s.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from dbseal import __version__
from dbseal.monitoring.redact import url_host

Warn = Callable[[str, str], None]  # (which ping, why), e.g. ("start", "timed out")
_RETRY_DELAY = 0.5
_MAX_BODY = 10_000
_START_GRACE = 1.0


def ping_url(url: str, suffix: str) -> str:
    """``https://hc-ping.com/UUID`` + ``fail`` -> ``https://hc-ping.com/UUID/fail``."""
    if not suffix:
        return url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix))


class Pinger:
    def __init__(self, url: str, timeout_s: float, retries: int, warn: Warn) -> None:
        self.url = url
        self.host = url_host(url)
        self.timeout_s = timeout_s
        self.retries = retries
        self._warn = warn
        self._start: threading.Thread | None = None
        self._start_deadline = 0.0

    def start(self) -> None:
        """``URL/start`` in a background thread (it never delays the command)."""
        self._start_deadline = time.monotonic() + self.timeout_s
        self._start = threading.Thread(
            target=self._send, args=("start", b""), name="dbseal-ping", daemon=True
        )
        self._start.start()

    def finish(self, ok: bool, body: str) -> None:
        """``URL`` with a summary, or ``URL/fail`` with the last lines of the log."""
        if self._start is not None:  # keep the order start < end at the endpoint, but a
            # start ping still hanging means a dead endpoint: wait for it a second at most
            self._start.join(min(_START_GRACE, max(0.0, self._start_deadline - time.monotonic())))
        end = threading.Thread(
            target=self._send,
            args=("" if ok else "fail", body.encode("utf-8")[-_MAX_BODY:]),
            name="dbseal-ping",
            daemon=True,
        )
        end.start()
        end.join(self.timeout_s + 1)  # a hung name lookup cannot hold the command either

    def _send(self, which: str, body: bytes) -> None:
        deadline = time.monotonic() + self.timeout_s
        url = ping_url(self.url, which)
        problem = ""
        for attempt in range(self.retries + 1):
            left = deadline - time.monotonic()
            if left <= 0.05:
                problem = problem or "no time left"
                break
            retry, problem = self._attempt(url, body, left)
            if not problem or not retry:
                break
            if attempt < self.retries:
                time.sleep(min(_RETRY_DELAY, max(0.0, deadline - time.monotonic())))
        if problem:
            self._warn(which or "success", problem)

    def _attempt(self, url: str, body: bytes, timeout: float) -> tuple[bool, str]:
        """(worth retrying, problem or "")."""
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"User-Agent": f"dbseal/{__version__}", "Content-Type": "text/plain"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read(1024)
            return False, ""
        except urllib.error.HTTPError as exc:
            return exc.code >= 500 or exc.code == 429, f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return True, str(reason) or type(exc).__name__
