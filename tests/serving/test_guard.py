"""The circuit breaker in front of Redis and the graph: fail fast while down, one background trial, recover."""

from __future__ import annotations

import threading
import time

import pytest

from graphrec.serving.resilience.bulkhead import Bulkhead
from graphrec.serving.resilience.guard import Guard, Unavailable
from tests.api_stack import wait_for


class Dependency:
    """A server that is up or down, counting the calls that reached it."""

    def __init__(self) -> None:
        self.up, self.calls, self.threads = True, 0, set()

    def __call__(self) -> str:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if not self.up:
            raise ConnectionError("connection refused")
        return "pong"


def test_while_down_requests_fail_fast_and_only_a_background_trial_reaches_the_server() -> None:
    server = Dependency()
    guard = Guard("redis", retry_s=0.2, failures=(ConnectionError,), trial=server)
    server.up = False
    with pytest.raises(Unavailable, match="connection refused"):
        guard.call(server)
    reached = server.calls
    for _ in range(50):  # inside the window: nothing reaches the server
        with pytest.raises(Unavailable):
            guard.call(server)
    assert server.calls == reached and not guard.healthy
    server.up = True
    # After the window the next call still fails fast, and starts the trial that finds the server back.
    wait_for(lambda: _succeeds(guard, server), timeout_s=5)
    assert guard.healthy and "redis-trial" in server.threads


def test_one_probe_at_a_time_the_others_report_the_known_state() -> None:
    server = Dependency()
    guard = Guard("graph", retry_s=60, failures=(ConnectionError,))
    release = threading.Event()
    slow = threading.Thread(target=guard.probe, args=(lambda: release.wait(10),))
    slow.start()
    wait_for(lambda: guard._trying)
    guard.probe(server)  # healthy so far: the second probe does not call the server and does not wait
    assert server.calls == 0
    release.set()
    slow.join()
    guard.probe(server)
    assert server.calls == 1


def test_a_probe_tests_the_server_without_opening_the_window_for_requests() -> None:
    server = Dependency()
    guard = Guard("graph", retry_s=60, failures=(ConnectionError,), trial=server)
    server.up = False
    with pytest.raises(Unavailable):
        guard.probe(server)
    calls = server.calls
    with pytest.raises(Unavailable):
        guard.call(server)
    assert server.calls == calls  # the failed probe kept requests off the server
    server.up = True
    guard.probe(server)
    assert guard.healthy and guard.call(server) == "pong"


def test_without_a_trial_one_request_at_a_time_tests_the_server() -> None:
    server = Dependency()
    guard = Guard("graph", retry_s=0.05, failures=(ConnectionError,))
    server.up = False
    with pytest.raises(Unavailable):
        guard.call(server)
    wait_for(lambda: not _succeeds(guard, server) and server.calls == 2, timeout_s=2)
    server.up = True
    wait_for(lambda: _succeeds(guard, server), timeout_s=2)


def _succeeds(guard: Guard, server: Dependency) -> bool:
    try:
        return guard.call(server) == "pong"
    except Unavailable:
        return False


def test_the_request_lane_gives_up_on_a_slow_graph_and_holds_at_most_its_workers() -> None:
    lane = Bulkhead("graph", workers=2)
    release = threading.Event()
    try:
        assert lane.call(lambda: "fast", 0.05) == "fast"
        started = time.monotonic()
        for _ in range(2):  # each waits only its budget; the slow calls keep the two workers
            with pytest.raises(Unavailable, match="slower than the request's budget"):
                lane.call(lambda: release.wait(10), 0.05)
        with pytest.raises(Unavailable, match="busy"):  # no worker left: fails at once
            lane.call(lambda: "fast", 0.05)
        assert time.monotonic() - started < 1
        with pytest.raises(Unavailable, match="slower"):  # a request whose budget is spent does not wait at all
            lane.call(lambda: "fast", budget_s=0.0)
        release.set()
        wait_for(lambda: _answers(lane), timeout_s=2)
    finally:
        release.set()
        lane.close()


def _answers(lane: Bulkhead) -> bool:
    try:
        return lane.call(lambda: "fast", 0.05) == "fast"
    except Unavailable:
        return False
