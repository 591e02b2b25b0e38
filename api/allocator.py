"""The C allocator under the server: how many malloc arenas it may keep.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per core,
and keeps what an arena once held: the SQLite driver's threads (one per pooled connection), the
event loop's resolver threads and the main thread each fragment a heap of their own. Under
bench/load.py's soak two arenas held the server ~12 MiB lower (175.7 against 187.6 MiB after
8 minutes, the same run beside it) at no measurable cost: the threads seldom allocate at the
same instant. ``SMS_MALLOC_ARENAS`` sets the number (0: glibc's own default); ``MALLOC_ARENA_MAX``
in the environment does the same from the process's start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("sms_accounts")

M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's arenas at ``count`` (before the threads start); False where that is not
    possible (another C library, or 0: leave the default)."""
    if count <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(M_ARENA_MAX, count) != 1:
        log.warning("could not cap malloc arenas at %d: the C library refused", count)
        return False
    return True
