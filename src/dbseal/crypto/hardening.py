"""Keep key material out of core dumps and swap (best effort, never fatal)."""

from __future__ import annotations

import ctypes
import resource
import sys

_PR_SET_DUMPABLE = 4
_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            from ctypes.util import find_library

            try:
                _libc = ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)
            except OSError:
                _libc = None
    return _libc


def harden_process() -> dict[str, bool]:
    """Disable core dumps (RLIMIT_CORE 0, PR_SET_DUMPABLE 0). Returns what worked."""
    done = {"rlimit_core": False, "not_dumpable": False}
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        done["rlimit_core"] = True
    except (ValueError, OSError):
        pass
    lib = _lib()
    if lib is not None:
        done["not_dumpable"] = lib.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    return done


def lock_buffer(buf: bytearray) -> bool:
    """mlock() the pages of ``buf`` so they are never swapped; False when not allowed."""
    lib = _lib()
    if lib is None or not buf:
        return False
    addr = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
    return bool(lib.mlock(ctypes.c_void_p(addr), ctypes.c_size_t(len(buf))) == 0)


def wipe(buf: bytearray) -> None:
    """Overwrite ``buf`` with zeros in place."""
    for i in range(len(buf)):
        buf[i] = 0
