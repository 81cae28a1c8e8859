"""The open-loop load generator the serving benchmarks share: fixed-schedule requests and their figures.

Requests are sent on a fixed schedule (open loop): latency counts from the scheduled send time, so a stalled
server cannot hide its queueing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np

from graphrec.serving.access.keys import Scope, new_key

TIMELINE_S = 5.0
ADMIN_KEY = "bench-admin-key"
# The load runs as a client key (a server-side client: its synthetic feedback names no slate), the admin calls
# with the admin key: the service checks a key and counts its rate on every request, as in production.
CLIENT_KEY, CLIENT_ENTRY = new_key("bench-client", {Scope.recommend, Scope.feedback, Scope.ingest, Scope.history})
CLIENT_HEADERS = {"X-API-Key": CLIENT_KEY}
ADMIN_HEADERS = {"X-API-Key": ADMIN_KEY}


def keys_env() -> dict[str, str]:
    """The service's key settings for a benchmark."""
    return {"GRAPHREC_API_KEY": ADMIN_KEY, "GRAPHREC_API_KEYS": json.dumps([CLIENT_ENTRY.model_dump(mode="json")])}


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # s into the phase
    errors: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))
    accepted_feedback: list[str] = field(default_factory=list)
    accepted_bodies: list[dict] = field(default_factory=list)  # the feedback answered 202, as sent
    accepted_duplicate: list[bool] = field(default_factory=list)  # each one's "duplicate" answer
    degraded: list[tuple[float, str, list[str]]] = field(default_factory=list)  # (s, name, what) of 200 answers
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # feedback answered 503, by name

    def report(self, title: str, seconds: float) -> dict[str, dict[str, float]]:
        print(f"\n{title}")
        figures = {}
        for name in sorted(set(self.latencies) | set(self.errors)):
            values = np.array(self.latencies[name]) * 1_000
            errors = len(self.errors[name])
            total = len(values) + errors + self.refused[name]
            row = {"requests": total, "errors": errors, "rps": total / seconds}
            if len(values):
                row |= {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}
            figures[name] = row
            tail = "  ".join(f"p{q} {row[f'p{q}']:7.2f} ms" for q in (50, 95, 99)) if len(values) else ""
            refused = f" ({self.refused[name]} refused with 503)" if self.refused[name] else ""
            print(f"  {name:<10} {total:>7,} requests {errors:>5} errors{refused} {row['rps']:7.1f}/s  {tail}")
            if len(values) and seconds >= 2 * TIMELINE_S:  # one burst or a backlog that never drained
                window = (np.array(self.sent_at[name]) // TIMELINE_S).astype(int)
                tails = [float(np.percentile(values[window == w], 99)) for w in np.unique(window)]
                row["p99_per_window"] = tails
                print(f"      p99 per {TIMELINE_S:g} s: " + " ".join(f"{tail:.0f}" for tail in tails))
            for when, what in self.errors[name][:3]:
                print(f"      error at {when:6.2f} s: {what[:160]}")
        return figures


@dataclass
class LoopLag:
    """The load generator's own stalls: how late its event loop woke from a 10 ms sleep, and its collections.

    Open-loop latency counts from the scheduled send time, so a stall here would read as service latency; a
    phase reports the stalls it had, to tell them apart."""

    since: float
    stalls: list[tuple[float, float]] = field(default_factory=list)  # (s into the phase, ms late) over 20 ms
    collections: list[tuple[float, float]] = field(default_factory=list)  # (s, ms) of collections over 20 ms
    _gc_started: float = 0.0

    async def watch(self, seconds: float) -> None:
        gc.callbacks.append(self._on_gc)
        try:
            while (now := time.perf_counter()) - self.since < seconds:
                await asyncio.sleep(0.01)
                late = (time.perf_counter() - now - 0.01) * 1_000
                if late > 20:
                    self.stalls.append((now - self.since, late))
        finally:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif (spent := (time.perf_counter() - self._gc_started) * 1_000) > 20:
            self.collections.append((self._gc_started - self.since, spent))

    def report(self) -> None:
        worst = max((late for _, late in self.stalls), default=0.0)
        print(f"  load generator: {len(self.stalls)} event-loop stalls over 20 ms (worst {worst:.0f} ms"
              + "".join(f"; {when:.1f} s: {late:.0f} ms" for when, late in sorted(self.stalls, key=lambda s: -s[1])[:5])
              + f"), {len(self.collections)} collections over 20 ms")


def process_counters(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system, all threads) and major page faults of a process so far; (NaN, 0) where
    /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan"), 0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[9])


def run_benchmark(parser: argparse.ArgumentParser, run) -> None:  # type: ignore[no-untyped-def]
    """Parse the command line (with --out), run the benchmark's ``run(args)`` and write its figures as JSON to
    --out when given."""
    parser.add_argument("--out", type=Path, help="Also write the figures as JSON here.")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def open_loop(session: aiohttp.ClientSession, samples: Samples, name: str, rate: float, seconds: float,
                    request, started: float) -> None:  # type: ignore[no-untyped-def]
    """Send ``request(i)`` (method, path, json) ``rate`` times a second for ``seconds`` on a fixed schedule."""
    await routed_loop(session, samples, rate, seconds, lambda i: (name, *request(i)), started)


async def one(session: aiohttp.ClientSession, samples: Samples, name: str, call: tuple[str, str, dict | None],
              scheduled: float, started: float) -> None:
    method, url, body = call
    try:
        async with session.request(method, url, json=body) as answer:
            payload = await answer.read()
            elapsed = time.perf_counter() - scheduled
            feedback = name.startswith("feedback")
            if feedback and answer.status == 503:  # refused, not lost: the client is told to retry
                samples.refused[name] += 1
                return
            if answer.status >= 400:
                samples.errors[name].append((scheduled - started, f"{answer.status} {payload[:200]!r}"))
                return
            if feedback:
                answered = json.loads(payload)
                samples.accepted_feedback.append(answered["stream_id"])
                samples.accepted_bodies.append(body or {})
                samples.accepted_duplicate.append(bool(answered.get("duplicate")))
            elif name.startswith("recommend") and (degraded := json.loads(payload).get("degraded")):
                samples.degraded.append((scheduled - started, name, degraded))
            samples.latencies[name].append(elapsed)
            samples.sent_at[name].append(scheduled - started)
    except (TimeoutError, aiohttp.ClientError) as error:
        samples.errors[name].append((scheduled - started, repr(error)))


def recommend_call(url: str, users: list, k: int = 10):  # type: ignore[no-untyped-def]
    return lambda i: ("POST", f"{url}/v1/recommend", {"user_id": users[i % len(users)], "k": k})


async def routed_loop(session: aiohttp.ClientSession, samples: Samples, rate: float, seconds: float, call,
                      started: float) -> None:  # type: ignore[no-untyped-def]
    """Like open_loop, where ``call(i)`` also names the sample (name, method, url, json): one name per replica."""
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        name, *request = call(i)
        tasks.append(asyncio.create_task(one(session, samples, name, tuple(request), scheduled, started)))
    await asyncio.gather(*tasks)
