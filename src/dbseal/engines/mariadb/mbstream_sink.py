"""``mbstream -x``, as the sink a physical restore decrypts each backup into."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import IO

from dbseal.engines.mariadb import prepare as pr
from dbseal.errors import PrepareFailed
from dbseal.pipeline import BackgroundWriter


class MbstreamSink:
    """Feeds the plaintext of one backup to ``mbstream -x -C DIR``.

    mbstream exits 0 even when it could not write a file, so any message it prints is a
    failure too. Writes go through a writer thread, so decrypting the next chunks
    overlaps with the pipe."""

    def __init__(self, directory: Path, log: Path) -> None:
        tool = shutil.which("mbstream", path=os.pathsep.join([os.defpath, *pr.SEARCH_DIRS]))
        if tool is None:
            raise PrepareFailed("mbstream (from the mariadb-backup package) was not found")
        self._dir, self._log_path = directory, log
        self._log: IO[bytes] = log.open("wb")
        self._proc = subprocess.Popen(
            [tool, "-x", "-C", str(directory)],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self._proc.stdin is not None
        self._writer = BackgroundWriter(self._proc.stdin)

    def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
        except BrokenPipeError:
            self._proc.wait()
            raise PrepareFailed(f"mbstream stopped extracting: {self._messages()}") from None

    def _messages(self) -> str:
        self._log.close()
        text = self._log_path.read_text(errors="replace").strip()
        return " | ".join(text.splitlines()[-3:]) or "no message"

    def close(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._writer.close()
            self._proc.stdin.close()
        rc = self._proc.wait()
        self._log.close()
        text = self._log_path.read_text(errors="replace").strip()
        if rc != 0 or text:
            raise PrepareFailed(
                f"mbstream could not extract into {self._dir.name} (exit status {rc}): "
                + (" | ".join(text.splitlines()[-3:]) or "no message")
            )

    def abort(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._writer.abort()  # its blocked write fails now that the reader is gone
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        self._proc.wait()
        self._log.close()


__all__ = ["MbstreamSink"]
