"""The service's memory housekeeping: the malloc arena cap."""

from __future__ import annotations

from graphrec.serving.ops import memory


def test_the_arena_cap_is_accepted_and_zero_leaves_glibc_default() -> None:
    memory.limit_malloc_arenas(0)
    memory.limit_malloc_arenas(2)
