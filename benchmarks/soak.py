"""Soak: the embedded stack under a steady mixed load for minutes, to show that nothing grows without bound.

One `graphrec serve` (LadybugDB, its own Redis server) with client keys, and an open-loop load of --rate
requests a second for --minutes: 85% POST /v1/recommend (k=10, a session per user), 10% POST /v1/feedback (a
click on an item of a slate the service showed that user and session, with its slate_id and an event_id, as an
app sends it) and 5% GET /v1/explain. A third of the clicks are double clicks (the same click again with its own
event_id, as the next request) and a tenth are sent again with the same event_id (a client's retry). Per minute:
requests, errors, p99 per route, the service's resident memory (RSS, its process), Redis' used memory and the
feedback stream's length.

Bounded means: RSS at the end minus RSS after the first minute <= 50 MB, and Redis' used memory within 10% over
the last five minutes (max / min - 1 <= 0.10), with 0 errors. Counted once means: once the writer has drained
the stream, each (user, item) click count in the graph went up by exactly the clicks answered 202 with
duplicate: false in the client's log.

    python -m benchmarks.soak --data-dir var/ml100k [--minutes 10 --rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import numpy as np
import redis

from benchmarks.loadgen import CLIENT_HEADERS, Samples, routed_loop, run_benchmark
from benchmarks.serving import Service, add_data_dir_option, copy_data_dir
from graphrec.graph.factory import open_store
from graphrec.graph.ids import plain_ids
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings

# Caps the soak runs with: the stream keeps about this many entries behind what the graph writer acknowledged,
# and an event_id is remembered this long (a client's retry window).
STREAM_MAXLEN, EVENT_ID_TTL_S = 5_000, 120
RATE_WINDOW_S = 1.5  # past the end of the client key's rate window (1,000 a second: a window of 1 s)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1_024
    return float("nan")


class Load:
    """The mixed requests, with the slates each user was last shown (feedback clicks an item of one)."""

    def __init__(self, url: str, users: list, rng: random.Random) -> None:
        self.url, self.users, self.rng = url, users, rng
        self.slates: dict[object, tuple[str, list]] = {}
        self.again: list[dict] = []  # feedback to send as the next request: a double click or a retry
        self.clicks = 0  # event_ids are unique over the run (each minute's loop counts its requests from 0)

    def call(self, i: int) -> tuple[str, str, str, dict | None]:
        if self.again:
            return "feedback", "POST", f"{self.url}/v1/feedback", self.again.pop()
        user = self.rng.choice(self.users)
        roll = self.rng.random()
        if roll < 0.10 and user in self.slates:
            slate_id, items = self.slates[user]
            self.clicks += 1
            click = {"session_id": f"soak-{user}", "user_id": user, "item_id": self.rng.choice(items),
                     "event": "click", "slate_id": slate_id, "event_id": f"soak-{self.clicks}"}
            repeat = self.rng.random()
            if repeat < 1 / 3:
                self.again.append({**click, "event_id": f"soak-{self.clicks}-double"})
            elif repeat < 1 / 3 + 1 / 10:
                self.again.append(click)
            return "feedback", "POST", f"{self.url}/v1/feedback", click
        if roll < 0.15 and user in self.slates:
            return "explain", "GET", f"{self.url}/v1/explain?user_id={user}&item_id={self.slates[user][1][0]}", None
        return "recommend", "POST", f"{self.url}/v1/recommend", {"user_id": user, "k": 10,
                                                                  "session_id": f"soak-{user}"}


async def remember_slates(session: aiohttp.ClientSession, load: Load) -> None:
    """One slate per user before the load starts, so feedback and explain have items from the first second."""
    for user in load.users:
        async with session.post(f"{load.url}/v1/recommend", json={"user_id": user, "k": 10,
                                                                  "session_id": f"soak-{user}"}) as answer:
            body = await answer.json()
        load.slates[user] = (body["slate_id"], [entry["item_id"] for entry in body["items"]])


async def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    data_dir = copy_data_dir(args.data_dir, work)
    bench_redis = EmbeddedRedis(work / "redis").start()
    client = redis.Redis.from_url(bench_redis.url)
    with open_store(Settings.from_env(data_dir=data_dir).graph, read_only=True) as store:
        users = plain_ids(store.run("user_ids")["id"])
    before = click_counts(data_dir, set(users))
    service = Service(data_dir, bench_redis.url, work / "service.log", warm=True, settings={
        "GRAPHREC_FEEDBACK_STREAM_MAXLEN": str(STREAM_MAXLEN), "GRAPHREC_EVENT_ID_TTL_S": str(EVENT_ID_TTL_S)})
    url = service.url
    minutes: list[dict] = []
    accepted: list[tuple[object, object, bool]] = []
    try:
        async with aiohttp.ClientSession(headers=CLIENT_HEADERS, timeout=aiohttp.ClientTimeout(total=30),
                                         connector=aiohttp.TCPConnector(limit=256)) as session:
            await service.ready(session)
            load = Load(url, users, random.Random(args.seed))
            await remember_slates(session, load)
            # The slates are asked for as fast as the service answers (over 1,000 a second on a fast machine):
            # the load starts once the client key's one-second rate window they counted in has ended.
            await asyncio.sleep(RATE_WINDOW_S)
            print(f"# {len(users):,} users, slates shown; soak: {args.rate:g} requests/s for {args.minutes:g} min "
                  f"(stream cap {STREAM_MAXLEN:,}, event ids kept {EVENT_ID_TTL_S} s)")
            for minute in range(int(args.minutes)):
                samples = Samples()
                started = time.perf_counter()
                await routed_loop(session, samples, args.rate, 60, load.call, started)
                row = {"minute": minute + 1, "rss_mb": rss_mb(service.process.pid),
                       "redis_used_mb": client.info("memory")["used_memory"] / 2**20,
                       "stream_length": client.xlen("graphrec:feedback")}
                for name in ("recommend", "feedback", "explain"):
                    latencies = np.array(samples.latencies[name]) * 1_000
                    row[f"{name}_requests"] = len(latencies) + len(samples.errors[name]) + samples.refused[name]
                    row[f"{name}_errors"] = len(samples.errors[name]) + samples.refused[name]
                    row[f"{name}_p99_ms"] = float(np.percentile(latencies, 99)) if len(latencies) else float("nan")
                    for when, what in samples.errors[name][:2]:
                        print(f"  {name} error at {when:.1f} s: {what[:160]}")
                minutes.append(row)
                accepted += [(body["user_id"], body["item_id"], duplicate) for body, duplicate in
                             zip(samples.accepted_bodies, samples.accepted_duplicate, strict=True)]
                print("  ".join(f"{key} {value:,.2f}" if isinstance(value, float) else f"{key} {value:,}"
                                for key, value in row.items()), flush=True)
        drained = wait_for_writer(client)
    finally:
        service.stop()
        client.close()
        bench_redis.stop()
    return summarise(minutes, work) | count_check(data_dir, before, accepted, drained)


def click_counts(data_dir: Path, users: set) -> dict[tuple[object, object], int]:
    with open_store(Settings.from_env(data_dir=data_dir).graph, read_only=True) as store:
        counts = {}
        for user in users:
            history = store.history(user, limit=100_000)
            clicks = history[history["behavior"] == "click"]
            counts.update({(user, item): int(n) if n == n else -1  # -1: the graph holds no count (NULL)
                           for item, n in zip(plain_ids(clicks["item_id"]), clicks["count"], strict=True)})
    return counts


def wait_for_writer(client: redis.Redis, timeout_s: float = 120) -> bool:
    """Whether the graph writer acknowledged every stream entry within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        group = next((g for g in client.xinfo_groups("graphrec:feedback") if g["name"] == b"graph-writer"), None)
        last = client.xinfo_stream("graphrec:feedback")["last-generated-id"]
        if group is not None and group["pending"] == 0 and group["last-delivered-id"] == last:
            return True
        time.sleep(0.5)
    return False


def count_check(data_dir: Path, before: dict[tuple[object, object], int],
                accepted: list[tuple[object, object, bool]], drained: bool) -> dict:
    """Each pair's click count in the graph against the clicks the client saw answered 202 as not duplicate."""
    sent: Counter[tuple[object, object]] = Counter((user, item) for user, item, duplicate in accepted
                                                   if not duplicate)
    after = click_counts(data_dir, {user for user, _ in sent})
    wrong = {pair: (after.get(pair, 0) - before.get(pair, 0), n) for pair, n in sent.items()
             if after.get(pair, 0) - before.get(pair, 0) != n}
    duplicates = sum(duplicate for _, _, duplicate in accepted)
    print(f"feedback answered 202: {len(accepted):,} ({duplicates:,} as duplicate); pairs {len(sent):,}, events "
          f"{sum(sent.values()):,}; writer drained: {drained}; pairs whose graph count differs: {len(wrong):,}"
          + (f" (first: {list(wrong.items())[:3]}: (graph, sent))" if wrong else "")
          + f"; counted once: {'met' if drained and not wrong else 'NOT met'}")
    return {"feedback_202": len(accepted), "feedback_duplicates": duplicates, "pairs_miscounted": len(wrong)}


def summarise(minutes: list[dict], work: Path) -> dict:
    errors = sum(row[f"{name}_errors"] for row in minutes for name in ("recommend", "feedback", "explain"))
    rss_growth = minutes[-1]["rss_mb"] - minutes[0]["rss_mb"]
    last = [row["redis_used_mb"] for row in minutes[-5:]]
    redis_spread = max(last) / min(last) - 1
    summary = {"errors": errors, "rss_after_first_minute_mb": minutes[0]["rss_mb"], "rss_end_mb": minutes[-1]["rss_mb"],
               "rss_growth_mb": rss_growth, "redis_last_5_min_spread": redis_spread, "minutes": minutes}
    print(f"\nerrors {errors}; RSS {minutes[0]['rss_mb']:.1f} MB after minute 1, {minutes[-1]['rss_mb']:.1f} MB at the "
          f"end (+{rss_growth:.1f} MB, bar 50); Redis used memory over the last 5 minutes {min(last):.2f}-"
          f"{max(last):.2f} MB ({redis_spread:.1%}, bar 10%); bounded: "
          f"{'met' if errors == 0 and rss_growth <= 50 and redis_spread <= 0.10 else 'NOT met'}; log {work}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_option(parser)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seed", type=int, default=11)
    run_benchmark(parser, run)


if __name__ == "__main__":
    main()
