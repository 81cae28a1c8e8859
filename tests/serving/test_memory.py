"""The service's memory housekeeping: the malloc arena cap and the periodic trim."""

from __future__ import annotations

import sys
import time

import pytest

from graphrec.serving.ops import memory


def test_the_arena_cap_is_accepted_and_zero_leaves_glibc_default() -> None:
    memory.limit_malloc_arenas(0)
    memory.limit_malloc_arenas(2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_the_trimmer_trims_on_its_cadence_and_stops() -> None:
    trimmer = memory.MallocTrimmer(0.01).start()
    deadline = time.monotonic() + 10
    while trimmer.trims < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    trimmer.stop()
    assert trimmer.trims >= 3
    assert not trimmer.running


def test_a_zero_cadence_starts_no_thread() -> None:
    trimmer = memory.MallocTrimmer(0).start()
    assert not trimmer.running
    trimmer.stop()
