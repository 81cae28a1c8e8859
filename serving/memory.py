"""How the service process holds its memory: glibc's malloc arenas capped, and freed memory handed back.

glibc gives threads arenas of their own, up to 8 per core, and keeps what is freed in each (and below the top of
each heap) for that arena's later use: the service's handler, graph and background threads, and the pool
threads that replace idle ones, would each hold freed frames and JSON apart. With the GIL, threads rarely
allocate at the same moment, so a few shared arenas cost little; and malloc_trim, run every minute, returns the
free pages inside the heaps to the system.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from graphrec.serving.background import BackgroundWorker

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's mallopt parameter
TRIM_EVERY_S = 60.0


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_malloc_arenas(arenas: int) -> None:
    """Cap the malloc arenas of the threads started from now on (0: glibc's default)."""
    libc = _libc()
    if arenas > 0 and libc is not None:
        libc.mallopt(M_ARENA_MAX, arenas)


class MemoryTrimmer(BackgroundWorker):
    """Hands the free pages of the malloc heaps back to the system every TRIM_EVERY_S."""

    thread_name = "memory-trimmer"

    def run(self) -> None:
        libc = _libc()
        if libc is None:
            log.debug("not glibc: freed memory is left to the allocator")
            return
        while not self._stop.wait(TRIM_EVERY_S):
            libc.malloc_trim(0)
