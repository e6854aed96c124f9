"""Print the HTML report to PDF with headless Chromium (Debian package ``chromium``).

Chromium is run on a private copy of the HTML in a fresh temporary profile, with no
network needed (the page is self-contained), and must produce a non-empty PDF within
the timeout; anything else is ReportPdfUnavailable, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from dbseal.errors import ReportPdfUnavailable

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEFAULT_TIMEOUT_S = 180.0


def find_chromium() -> str | None:
    """``$DBSEAL_CHROMIUM``, else /usr/bin/chromium, else the first candidate on PATH."""
    forced = os.environ.get("DBSEAL_CHROMIUM")
    if forced is not None:
        return forced if os.access(forced, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    return None


def chromium_argv(binary: str, profile: str, *extra: str) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        *extra,
    ]


def html_to_pdf(html: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bytes:
    """The PDF's bytes (the caller writes them where it wants)."""
    binary = find_chromium()
    if binary is None:
        raise ReportPdfUnavailable(
            "no PDF: Chromium is not installed (looked for /usr/bin/chromium and chromium on PATH)"
        )
    with tempfile.TemporaryDirectory(prefix="dbseal-report-") as tmp:
        page = os.path.join(tmp, "report.html")
        with open(page, "w", encoding="utf-8") as fh:
            fh.write(html)
        out = os.path.join(tmp, "report.pdf")
        argv = chromium_argv(
            binary,
            os.path.join(tmp, "profile"),
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            f"file://{page}",
        )
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ReportPdfUnavailable(
                f"no PDF: Chromium did not finish within {timeout_s:.0f} s"
            ) from None
        except OSError as exc:
            raise ReportPdfUnavailable(
                f"no PDF: Chromium could not be started: {exc.strerror}"
            ) from None
        if proc.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise ReportPdfUnavailable(
                f"no PDF: Chromium failed (exit {proc.returncode}): {tail[0][:200]}"
            )
        with open(out, "rb") as fh:
            return fh.read()
