"""Streaming S3 uploads and ranged downloads with bounded memory.

:class:`UploadStream` buffers at most one part while the previous part uploads
on a worker thread (so at most two parts are in memory, never the whole
object, and no temporary file is used). An object smaller than one part is
sent with a single PutObject. Part sizes start at the configured size and
double every 1,000 parts (capped at 5 GiB), so a stream of unknown length
never runs out of S3's 10,000 parts before S3's 5 TiB object limit.

:class:`RangeReader` streams a GET (optionally a byte range) and, when the
connection breaks mid-way, resumes from the byte it reached with a new ranged
GET pinned to the same object version (``If-Match`` on the ETag).

Both retry under the backend's :class:`~dbseal.storage.retry.Retrier` (one
policy for every backend): each part, the creation and completion of the
upload, a single PUT and every resume get the whole retry budget; an abort
gets the short abort budget.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable
from typing import Any

from dbseal.errors import ObjectExists, StorageError, StorageUnavailable
from dbseal.storage.inflight import InFlight
from dbseal.storage.retry import Retrier
from dbseal.storage.s3_errors import client_error_code, s3_error

MAX_PARTS = 10_000
MAX_PART_SIZE = 5 << 30
PART_GROWTH_EVERY = 1_000


def part_size_for(number: int, base: int) -> int:
    """Size of part ``number`` (1-based): ``base``, doubled every 1,000 parts, at most 5 GiB."""
    return int(min(base << ((number - 1) // PART_GROWTH_EVERY), MAX_PART_SIZE))


class UploadStream(io.RawIOBase):
    """A write-only file whose bytes become one S3 object when :meth:`finish` is called.

    ``put_args`` are the PutObject/CreateMultipartUpload arguments (SSE, object
    lock, storage class); ``sse_c`` the SSE-C arguments every part and the
    completion also carry. :meth:`abort` (on any failure) aborts the multipart
    upload, so no incomplete upload lingers.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        what: str,
        part_size: int,
        overwrite: bool,
        conditional: bool,
        put_args: dict[str, Any],
        sse_c: dict[str, Any],
        exists: Callable[[], bool],
        same_content: Callable[[bytes], bool],
        retrier: Retrier,
    ) -> None:
        super().__init__()
        self._client, self._bucket, self._key, self._what = client, bucket, key, what
        self._base, self._overwrite, self._conditional = part_size, overwrite, conditional
        self._put_args, self._sse_c = put_args, sse_c
        self._exists, self._same_content = exists, same_content
        self._retrier = retrier
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._inflight: InFlight[dict[str, Any]] = InFlight("dbseal-s3-part")
        self._lock = threading.Lock()
        self.size = 0

    # -- the file interface ------------------------------------------------------------

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        with self._lock:
            while view:
                limit = part_size_for(len(self._parts) + 1 + self._inflight.busy, self._base)
                if len(self._buf) >= limit:
                    self._send_part()  # only when more data follows: an exact fit stays one PUT
                    continue
                room = limit - len(self._buf)
                self._buf += view[:room]
                view = view[room:]
            self.size += n
        return n

    # -- the end of the block ----------------------------------------------------------

    def finish(self) -> None:
        """Make the object visible (or raise, leaving nothing behind)."""
        with self._lock:
            if self._upload_id is None:
                self._put_whole()
                return
            if self._buf:
                self._send_part()
            self._wait_pending()
            self._complete()
            self._inflight.close()

    def abort(self) -> None:
        """Abort the multipart upload, if any; never raises."""
        self._inflight.drop()  # the upload is aborted below anyway
        self._buf = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None

            def once() -> None:
                try:
                    self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=self._key, UploadId=upload_id
                    )
                except Exception as exc:
                    if client_error_code(exc) != "NoSuchUpload":
                        raise s3_error(exc, f"{self._what} (aborting the upload)") from None

            with contextlib.suppress(Exception):  # `repo check --clean` removes what is left
                self._retrier.abort("s3.abort_multipart_upload", once)

    # -- single PUT --------------------------------------------------------------------

    def _put_whole(self) -> None:
        data, self._buf = bytes(self._buf), bytearray()
        args = dict(self._put_args)
        if not self._overwrite:
            if self._conditional:
                args["IfNoneMatch"] = "*"
            elif self._exists():
                raise ObjectExists(f"{self._what}: the object already exists")
        failed_before = False

        def once() -> None:
            nonlocal failed_before
            try:
                self._client.put_object(Bucket=self._bucket, Key=self._key, Body=data, **args)
            except Exception as exc:
                err = s3_error(exc, self._what)
                failed_before = failed_before or isinstance(err, StorageUnavailable)
                # a resent PUT whose first try had landed: our own object, not a collision
                if isinstance(err, ObjectExists) and failed_before and self._same_content(data):
                    return
                raise err from None

        self._retrier.call("s3.put_object", once)

    # -- multipart ---------------------------------------------------------------------

    def _send_part(self) -> None:
        if self._upload_id is None:
            self._create()
        number = len(self._parts) + 1 + self._inflight.busy
        data, self._buf = self._buf, bytearray()
        self._wait_pending()
        if number > MAX_PARTS:
            raise StorageError(f"{self._what}: more than {MAX_PARTS} parts")
        self._inflight.submit(lambda: self._upload_part(number, data))

    def _create(self) -> None:
        if not self._overwrite and self._exists():  # fail before uploading gigabytes
            raise ObjectExists(f"{self._what}: the object already exists")

        def once() -> Any:
            try:
                return self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._key, **self._put_args
                )
            except Exception as exc:
                raise s3_error(exc, f"{self._what} (starting a multipart upload)") from None

        # a lost answer leaves an unused upload behind: a leftover `repo check --clean` removes
        answer = self._retrier.call("s3.create_multipart_upload", once)
        self._upload_id = str(answer["UploadId"])

    def _wait_pending(self) -> None:
        part = self._inflight.wait()
        if part is not None:
            self._parts.append(part)

    def _upload_part(self, number: int, data: bytearray) -> dict[str, Any]:
        what = f"{self._what} (part {number}, {len(data)} bytes)"

        def once() -> dict[str, Any]:
            try:
                answer = self._client.upload_part(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=data,
                    **self._sse_c,
                )
            except Exception as exc:
                raise s3_error(exc, what) from None
            return {"PartNumber": number, "ETag": answer["ETag"]}

        return self._retrier.call("s3.upload_part", once)  # a part is idempotent

    def _complete(self) -> None:
        args: dict[str, Any] = dict(self._sse_c)
        if not self._overwrite:
            if self._conditional:
                args["IfNoneMatch"] = "*"
            elif self._exists():
                raise ObjectExists(f"{self._what}: the object already exists")
        failed_before = False

        def once() -> None:
            nonlocal failed_before
            try:
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                    **args,
                )
            except Exception as exc:
                code = client_error_code(exc)
                err = s3_error(exc, f"{self._what} (completing the multipart upload)")
                landed = isinstance(err, ObjectExists) or code == "NoSuchUpload"
                if failed_before and landed and self._upload_gone() and self._exists():
                    return  # a resent completion: the first one had landed
                failed_before = failed_before or isinstance(err, StorageUnavailable)
                raise err from None

        self._retrier.call("s3.complete_multipart_upload", once)
        self._upload_id = None

    def _upload_gone(self) -> bool:
        try:
            self._client.list_parts(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        except Exception as exc:
            return client_error_code(exc) == "NoSuchUpload"
        return False


class RangeReader(io.RawIOBase):
    """Bytes ``[start, end)`` of an object as a stream; resumes after a broken connection.

    ``get(first, last, etag)`` performs a GetObject for bytes ``first..last``
    (inclusive), pinned to ``etag`` when given, and returns its response. A
    read that fails (or a body that ends early) is resumed from the byte
    reached, under the retrier's budget.
    """

    def __init__(
        self,
        get: Callable[[int, int, str | None], dict[str, Any]],
        response: dict[str, Any],
        start: int,
        end: int,
        what: str,
        retrier: Retrier,
    ) -> None:
        super().__init__()
        self._get, self._what, self._retrier = get, what, retrier
        self._body: Any = response["Body"]
        self._etag: str | None = response.get("ETag")
        self._pos, self._end = start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._end - self._pos)
        if want <= 0:
            return 0
        data = self._retrier.call("s3.read", lambda: self._read_once(want))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read_once(self, want: int) -> bytes:
        if self._body is None:
            self._resume()
        try:
            data = bytes(self._body.read(want))
        except Exception as exc:
            self._close_body()
            raise s3_error(exc, f"{self._what} (at byte {self._pos})") from None
        if not data:
            self._close_body()  # the connection ended before the promised length
            raise StorageUnavailable(
                f"{self._what}: the download ended at byte {self._pos} of {self._end}"
            )
        return data

    def readall(self) -> bytes:
        """The rest, read in 1 MiB steps (io's default would take 8 KiB at a time)."""
        out = bytearray()
        buf = bytearray(min(1 << 20, max(self._end - self._pos, 0)))
        while n := self.readinto(buf):
            out += memoryview(buf)[:n]
        return bytes(out)

    def _resume(self) -> None:
        try:
            self._body = self._get(self._pos, self._end - 1, self._etag)["Body"]
        except Exception as exc:
            if client_error_code(exc) in ("PreconditionFailed", "412"):
                raise StorageError(
                    f"{self._what}: the object changed while it was being read",
                    hint="something rewrote it meanwhile; run the command again",
                ) from None
            raise s3_error(exc, f"{self._what} (resuming at byte {self._pos})") from None

    def _close_body(self) -> None:
        body, self._body = self._body, None
        with contextlib.suppress(Exception):  # a broken connection may refuse a clean close
            if body is not None:
                body.close()

    def close(self) -> None:
        if not self.closed:
            self._close_body()
        super().close()
