"""How the service process holds its memory: glibc's malloc arenas capped.

glibc gives threads arenas of their own, up to 8 per core, and keeps what is freed in each for that arena's later
use: the service's handler, graph and background threads, and the pool threads that replace idle ones, would each
hold freed frames and JSON apart. With the GIL, threads rarely allocate at the same moment, so a few shared arenas
cost little.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int) -> None:
    """Cap the malloc arenas of the threads started from now on (0: glibc's default)."""
    if arenas <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc
        log.debug("mallopt is not available; malloc arenas left as they are")
