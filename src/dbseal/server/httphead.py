"""Reading one request head strictly: bounded sizes, one unambiguous body framing.

The receiver's only client is :class:`dbseal.storage.remote.RemoteBackend`,
so anything it would never send is refused rather than interpreted:

* the request line is ``METHOD SP /TARGET SP HTTP/1.1`` (or ``HTTP/1.0``), at most
  :data:`MAX_REQUEST_LINE` bytes (else 414);
* at most :data:`MAX_HEADERS` header lines of at most :data:`MAX_HEADER_LINE`
  bytes, :data:`MAX_HEAD` bytes in all (else 431); no folded lines, no space
  before the colon (400);
* ``Content-Length`` is a decimal integer of digits only (an optional single
  space after the colon, no sign, no other space, no exponent), at most
  :data:`MAX_CONTENT_LENGTH`; repeated only with the same value;
* ``Transfer-Encoding`` is ``chunked`` and nothing else, and never comes with
  a ``Content-Length`` (request smuggling);

anything else raises :class:`BadRequest` with the status to answer.
"""

from __future__ import annotations

import http.client
import io
import re
from dataclasses import dataclass
from typing import BinaryIO

MAX_REQUEST_LINE = 8 << 10
MAX_HEADER_LINE = 8 << 10
MAX_HEADERS = 64
MAX_HEAD = 32 << 10
MAX_CONTENT_LENGTH = 4 << 20  # the largest body is one part of an upload in parts (3 MiB)
METHODS = ("HEAD", "GET", "PUT", "DELETE", "POST")

_REQUEST_LINE = re.compile(rb"([A-Z]{1,16}) (/[\x21-\x7e]*) HTTP/1\.([01])")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LENGTH = re.compile(rb" ?([0-9]{1,20})")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: http.client.HTTPMessage
    content_length: int | None
    chunked: bool

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("Connection", "").lower()
        return conn != "close" and (self.version == "HTTP/1.1" or conn == "keep-alive")


def read_head(rfile: BinaryIO) -> RequestHead | None:
    """The next request head, or None if the connection ended before one began."""
    line = rfile.readline(MAX_REQUEST_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_REQUEST_LINE:
        raise BadRequest(414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")
    match = _REQUEST_LINE.fullmatch(line.rstrip(b"\r\n"))
    if not match:
        raise BadRequest(400, f"malformed request line {line[:80]!r}")
    fields = _read_fields(rfile)
    raw = b"".join(name + b":" + value + b"\r\n" for name, value in fields) + b"\r\n"
    headers = http.client.parse_headers(io.BytesIO(raw))
    length = _content_length([v for n, v in fields if n.lower() == b"content-length"])
    codings = [v.strip().lower() for n, v in fields if n.lower() == b"transfer-encoding"]
    if codings and codings != [b"chunked"]:
        raise BadRequest(400, f"Transfer-Encoding {b', '.join(codings)!r} is not 'chunked'")
    if codings and length is not None:
        raise BadRequest(400, "both Content-Length and Transfer-Encoding: send only one")
    method, target, minor = (g.decode("ascii") for g in match.groups())
    return RequestHead(method, target, f"HTTP/1.{minor}", headers, length, bool(codings))


def _read_fields(rfile: BinaryIO) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    total = 0
    while True:
        line = rfile.readline(MAX_HEADER_LINE + 1)
        total += len(line)
        if len(line) > MAX_HEADER_LINE or total > MAX_HEAD:
            raise BadRequest(
                431, f"a header line is over {MAX_HEADER_LINE} bytes, or all over {MAX_HEAD}"
            )
        if not line.endswith(b"\n"):
            raise BadRequest(400, "the connection ended inside the request head")
        line = line.rstrip(b"\r\n")
        if not line:
            return fields
        if len(fields) >= MAX_HEADERS:
            raise BadRequest(431, f"more than {MAX_HEADERS} header lines")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequest(400, f"malformed header line {line[:40]!r}")
        fields.append((name, value))


def _content_length(values: list[bytes]) -> int | None:
    lengths = set()
    for value in values:
        match = _LENGTH.fullmatch(value)
        if not match:
            raise BadRequest(400, f"Content-Length {value[:30]!r} is not a decimal number")
        lengths.add(int(match.group(1)))
    if len(lengths) > 1:
        raise BadRequest(400, f"Content-Length given {len(values)} times with different values")
    if not lengths:
        return None
    (length,) = lengths
    if length > MAX_CONTENT_LENGTH:
        raise BadRequest(400, f"Content-Length {length} is over the cap of {MAX_CONTENT_LENGTH}")
    return length
