"""How the service process holds its memory: glibc's malloc arenas capped, and what they hold free trimmed.

glibc gives threads arenas of their own, up to 8 per core, and keeps what is freed in each for that arena's later
use: the service's handler, graph and background threads, and the pool threads that replace idle ones, would each
hold freed frames and JSON apart. With the GIL, threads rarely allocate at the same moment, so a few shared arenas
cost little.

glibc also keeps freed blocks inside each arena's heap rather than handing them back, so a burst of large
allocations (LadybugDB's checkpoints rewrite the interaction table in memory, a writer batch, a candidate
build) leaves the process that much larger until the same sizes are asked for again. malloc_trim gives the
free pages of every arena back to the system; called every few seconds it keeps the resident size close to what
is in use.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Any, Self

from graphrec.serving.ops.background import BackgroundWorker

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's mallopt parameter


def glibc_function(name: str) -> Any:
    """glibc's function ``name`` (a ctypes function, which lets go of the GIL while it runs); None off Linux or
    with another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc
        log.debug("%s is not available: glibc's memory settings left as they are", name)
        return None


def limit_malloc_arenas(arenas: int) -> None:
    """Cap the malloc arenas of the threads started from now on (0: glibc's default)."""
    mallopt = glibc_function("mallopt") if arenas > 0 else None
    if mallopt is not None:
        mallopt(M_ARENA_MAX, arenas)


class MallocTrimmer(BackgroundWorker):
    """malloc_trim(0) every ``every_s`` seconds, in a thread of its own (ctypes lets go of the GIL for the call)."""

    thread_name = "malloc-trim"

    def __init__(self, every_s: float) -> None:
        super().__init__()
        self.every_s = every_s
        self.trims = 0
        self._trim = glibc_function("malloc_trim") if every_s > 0 else None

    def start(self) -> Self:
        return super().start() if self._trim is not None else self

    def run(self) -> None:
        assert self._trim is not None
        while not self._stop.wait(self.every_s):
            self._trim(0)
            self.trims += 1
