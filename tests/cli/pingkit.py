"""A local healthchecks-style endpoint the test starts (http.server in a thread)."""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class Hit:
    method: str
    path: str
    body: str


@dataclass
class PingServer:
    """``mode``: ``ok`` answers 200, ``error`` answers 500, ``hang`` never answers."""

    mode: str = "ok"
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                server.hits.append(Hit("POST", self.path, body))
                if server.mode == "hang":
                    server._release.wait(60)
                    return
                code = 500 if server.mode == "error" else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/check-uuid"

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]

    def __enter__(self) -> PingServer:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
