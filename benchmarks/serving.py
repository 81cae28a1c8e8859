"""Serving latency and resilience over loopback HTTP: the service in a subprocess, an open-loop load generator.

Requests are sent on a fixed schedule (open loop): latency counts from the scheduled send time, so a stalled
server cannot hide its queueing. Every phase is bounded in requests and seconds; nothing leaves the machine.

Phases (each prints requests, errors, throughput and p50/p95/p99 per endpoint):
  cold      /v1/recommend, each request a user not asked before (candidate cache empty, no warming), at
            --cold-rate; also the service's CPU per cold request
  warm      the same users again (candidates from the Redis cache), at --rate
  sequential the same users, cached, one request at a time (3 passes): latency without queueing and the
            service's CPU per request (what a policy adds to each cached request)
  (the phases below run on a fresh service that warms its cache at start, as `graphrec serve` does)
  ready     /v1/recommend at --rate for --seconds from the first 200 of /readyz (polled every 50 ms)
  steady    /v1/recommend (k=10, known users drawn at random) at --rate with /v1/explain at --explain-rate
  refresh   steady load while POST /v1/admin/refresh retrains, publishes and the service swaps versions
  redis     steady load plus feedback; Redis is stopped after --redis-stop-at s and started again
            --redis-down-s later; errors per second, /readyz, and every feedback answered 202 checked in the
            stream afterwards

    python -m benchmarks.serving --data-dir var/synthetic-1m [--rate 200 --seconds 60 --phases all]

The data folder needs a graph and a published artifact set (`make run`, or `graphrec ingest synthetic
--users 6040 --items 3706 --interactions 1000209` then `graphrec train`, `index`, `publish`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import redis

from benchmarks.loadgen import (
    ADMIN_HEADERS,
    CLIENT_HEADERS,
    Samples,
    free_port,
    keys_env,
    open_loop,
    process_counters,
    recommend_call,
    run_benchmark,
)
from graphrec.graph.ids import plain_ids
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """The --data-dir option of a benchmark that serves a copy of a built data folder (copy_data_dir)."""
    parser.add_argument("--data-dir", type=Path, default=Path("var/ml100k"),
                        help="A data folder with a graph and a published version (copied; the original is kept).")


def copy_data_dir(data_dir: Path, work: Path) -> Path:
    """``data_dir`` copied under ``work`` without what a running service left there (its Redis, its lock)."""
    return Path(shutil.copytree(data_dir, work / "var",
                                ignore=shutil.ignore_patterns("redis", "service.json", "exports")))


class Service:
    """`graphrec serve` on a free port with the benchmark keys, its output appended to ``log``; ``settings`` are
    more GRAPHREC_ variables."""

    def __init__(self, data_dir: Path, redis_url: str, log: Path, warm: bool,
                 settings: dict[str, str] | None = None, log_level: str = "warning") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "GRAPHREC_DATA_DIR": str(data_dir), "REDIS_URL": redis_url,
               **keys_env(), "GRAPHREC_RELOAD_POLL_S": "0.5", **(settings or {})}
        if not warm:
            env["GRAPHREC_WARM_USERS"] = "0"
        self.process = subprocess.Popen([sys.executable, "-m", "graphrec", "serve", "--port", str(self.port),
                                         "--log-level", log_level], env=env, stdout=log.open("ab"),
                                        stderr=subprocess.STDOUT)

    async def ready(self, session: aiohttp.ClientSession, timeout_s: float = 600) -> dict:
        """/readyz at its first 200, polled every 50 ms, as a load balancer would see it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}")
            try:
                async with session.get(f"{self.url}/readyz") as answer:
                    ready = await answer.json()
                if answer.status == 200:
                    return ready
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("the service was not ready in time")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def sequential_phase(session: aiohttp.ClientSession, service: Service, users: list, cached: bool,
                           passes: int = 3) -> dict[str, float]:
    """``passes`` over ``users``, one request at a time, once their candidates are cached."""
    async def recommend(user: Any) -> None:
        async with session.post(f"{service.url}/v1/recommend", json={"user_id": user, "k": 10}) as answer:
            answer.raise_for_status()
            await answer.read()

    if not cached:
        for user in users:
            await recommend(user)
    cpu_before = process_counters(service.process.pid)[0]
    latencies = []
    for user in users * passes:
        started = time.perf_counter()
        await recommend(user)
        latencies.append((time.perf_counter() - started) * 1_000)
    figures = {"requests": len(latencies), "p50": float(np.percentile(latencies, 50)),
               "p99": float(np.percentile(latencies, 99)),
               "service_cpu_ms_per_request": (process_counters(service.process.pid)[0] - cpu_before) * 1_000
               / len(latencies)}
    print("\nsequential: {requests:,} cached requests one at a time: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          "service CPU {service_cpu_ms_per_request:.2f} ms per request".format(**figures))
    return figures


async def run(args: argparse.Namespace) -> dict:
    settings = Settings.from_env(data_dir=args.data_dir)
    from graphrec.graph.factory import open_store

    with open_store(settings.graph, read_only=True) as store:
        users = store.run("user_ids")["id"].tolist()
        explain_pairs = []
        for user in random.Random(1).sample(users, 200):
            found = store.candidates(user, limit=1)
            if len(found):
                explain_pairs.append((user, found["item_id"].iloc[0]))
        items = store.run("item_titles")["id"].tolist()
    users = plain_ids(users)
    explain_pairs = list(zip(plain_ids(u for u, _ in explain_pairs), plain_ids(i for _, i in explain_pairs),
                             strict=True))
    rng = random.Random(args.seed)
    # The benchmark's Redis starts empty: its append-only file is only there for the Redis phase's restart.
    # Kept between runs, it grew by every run's traffic (537 MB after a day), and loading it at each start and
    # at that restart took seconds.
    bench_folder = Path(args.data_dir) / "bench-redis"
    shutil.rmtree(bench_folder, ignore_errors=True)
    bench_redis = EmbeddedRedis(bench_folder).start()
    bench_redis_client = redis.Redis.from_url(bench_redis.url)
    log = Path(args.data_dir) / "bench-service.log"
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": datetime.now(UTC).isoformat(),
                     "data_dir": str(args.data_dir), "users": len(users), "items": len(items), "phases": {}}
    every = ["cold", "warm", "sequential", "ready", "steady", "refresh", "redis"]
    phases = args.phases.split(",") if args.phases != "all" else every
    timeout = aiohttp.ClientTimeout(total=30)
    # The generator imports what the service does (pandas, torch, FAISS); a full collection walking those
    # objects stalled it for up to 190 ms mid-phase, and every request scheduled meanwhile counted the stall as
    # the service's latency. Frozen objects are not walked again (the service does the same at start).
    gc.collect()
    gc.freeze()
    try:
        async with aiohttp.ClientSession(headers=CLIENT_HEADERS, timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=256)) as session:
            if {"cold", "warm", "sequential"} & set(phases):
                service = Service(Path(args.data_dir), bench_redis.url, log, warm=False)
                try:
                    ready = await service.ready(session)
                    print(f"service (no cache warming) ready: {ready['status']}, version {ready['artifact_version']}")
                    sample = rng.sample(users, min(len(users), int(args.cold_rate * args.cold_seconds)))
                    for name, rate in (("cold", args.cold_rate), ("warm", args.rate)):
                        if name not in phases:
                            continue
                        seconds = len(sample) / rate
                        samples = Samples()
                        cpu_before = process_counters(service.process.pid)[0]
                        await open_loop(session, samples, "recommend", rate, seconds,
                                        recommend_call(service.url, sample), time.perf_counter())
                        results["phases"][name] = samples.report(
                            f"{name}: {len(sample):,} users once each at {rate:g}/s", seconds)
                        cpu_ms = (process_counters(service.process.pid)[0] - cpu_before) * 1_000 / len(sample)
                        results["phases"][name]["recommend"]["service_cpu_ms_per_request"] = cpu_ms
                        print(f"  service CPU {cpu_ms:.2f} ms per request (all threads)")
                    if "sequential" in phases:
                        results["phases"]["sequential"] = await sequential_phase(session, service, sample,
                                                                                 cached="cold" in phases)
                finally:
                    service.stop()
                bench_redis_client.flushall()
            if not {"ready", "steady", "refresh", "redis"} & set(phases):
                return results
            service = Service(Path(args.data_dir), bench_redis.url, log, warm=True)
            try:
                started = time.perf_counter()
                ready = await service.ready(session)
                print(f"\nservice ready (first 200 of /readyz) in {time.perf_counter() - started:.1f} s: "
                      f"{ready['status']}, cache warming {ready['cache_warming']}, version {ready['artifact_version']}")
                url = service.url
                if "ready" in phases:  # the full rate from the first 200 of /readyz, as a load balancer sends it
                    samples = Samples()
                    draws = [rng.choice(users) for _ in range(int(args.rate * args.seconds))]
                    generator_before, wall_before = time.process_time(), time.perf_counter()
                    await open_loop(session, samples, "recommend", args.rate, args.seconds, recommend_call(url, draws),
                                    time.perf_counter())
                    generator = (time.process_time() - generator_before) / (time.perf_counter() - wall_before)
                    results["phases"]["ready"] = samples.report(
                        f"ready: recommend {args.rate:g}/s for {args.seconds:g} s from the first 200 of /readyz",
                        args.seconds)
                    results["phases"]["ready"]["load_generator_cores"] = generator
                    print(f"      load generator {generator:.2f} cores")
                if "steady" in phases:
                    # First a short run at the same rates (first touches of the graph's pages, the title cache),
                    # reported on its own, then the measured run.
                    for name, seconds in (("steady-warmup", args.warmup_seconds), ("steady", args.seconds)):
                        samples = Samples()
                        counters_before, cpu_before = process_counters(service.process.pid), time.process_time()
                        start = time.perf_counter()
                        draws = [rng.choice(users) for _ in range(int(args.rate * seconds))]
                        await asyncio.gather(
                            open_loop(session, samples, "recommend", args.rate, seconds, recommend_call(url, draws),
                                      start),
                            open_loop(session, samples, "explain", args.explain_rate, seconds, lambda i: (
                                "GET", f"{url}/v1/explain?user_id={explain_pairs[i % len(explain_pairs)][0]}"
                                       f"&item_id={explain_pairs[i % len(explain_pairs)][1]}", None), start))
                        wall = time.perf_counter() - start
                        results["phases"][name] = samples.report(
                            f"{name}: recommend {args.rate:g}/s + explain {args.explain_rate:g}/s for {seconds:g} s",
                            seconds)
                        counters = process_counters(service.process.pid)
                        busy = {"service_cores": (counters[0] - counters_before[0]) / wall,
                                "load_generator_cores": (time.process_time() - cpu_before) / wall,
                                "service_major_faults": counters[1] - counters_before[1]}
                        results["phases"][name]["cpu"] = busy
                        print("  CPU: service {service_cores:.2f} cores ({service_major_faults} major page faults), "
                              "load generator {load_generator_cores:.2f} cores".format(**busy))
                if "refresh" in phases:
                    results["phases"]["refresh"] = await refresh_phase(session, args, url, users, rng)
                if "redis" in phases:
                    results["phases"]["redis"] = await redis_phase(session, args, url, users, items, rng,
                                                                   bench_redis, bench_redis_client)
            finally:
                service.stop()
    finally:
        bench_redis.stop()
    return results


async def refresh_phase(session: aiohttp.ClientSession, args: argparse.Namespace, url: str, users: list,
                        rng: random.Random) -> dict:
    """Load in 10 s segments from the refresh request until 10 s after the service swapped versions."""
    async with session.get(f"{url}/readyz") as answer:
        before = (await answer.json())["artifact_version"]
    samples = Samples()
    start = time.perf_counter()
    async with session.post(f"{url}/v1/admin/refresh", headers=ADMIN_HEADERS,
                            json={"force": True, "epochs": args.refresh_epochs}) as answer:
        assert answer.status == 202, await answer.text()
    swapped_at = None
    while time.perf_counter() - start < args.refresh_max_s:
        draws = [rng.choice(users) for _ in range(int(args.rate * 10))]
        await open_loop(session, samples, "recommend", args.rate, 10, recommend_call(url, draws), time.perf_counter())
        async with session.get(f"{url}/readyz") as answer:
            version = (await answer.json())["artifact_version"]
        if swapped_at is not None:
            break
        if version != before:
            swapped_at = time.perf_counter() - start
    seconds = time.perf_counter() - start
    swap = f"{swapped_at:.0f} s" if swapped_at else f"NOT within {args.refresh_max_s:g} s"
    figures = samples.report(f"refresh: recommend {args.rate:g}/s for {seconds:.0f} s while the refresh job "
                             f"retrains ({args.refresh_epochs} epoch), indexes and publishes; {before} -> {version}, "
                             f"swap seen at {swap}", seconds)
    figures["swap"] = {"swapped_at_s": swapped_at or -1.0}
    return figures


async def redis_phase(session: aiohttp.ClientSession, args: argparse.Namespace, url: str, users: list, items: list,
                      rng: random.Random, bench_redis: EmbeddedRedis, client: redis.Redis) -> dict:
    samples = Samples()
    start = time.perf_counter()
    seconds = args.redis_seconds
    draws = [rng.choice(users) for _ in range(int(args.rate * seconds))]
    feedback = [(rng.choice(users), rng.choice(items)) for _ in range(int(args.feedback_rate * seconds))]
    readiness: list[tuple[float, str]] = []

    async def poll_readiness(until_s: float) -> None:
        """/readyz's status once a second until ``until_s`` into the phase."""
        while time.perf_counter() - start < until_s:
            async with session.get(f"{url}/readyz") as answer:
                readiness.append((time.perf_counter() - start, (await answer.json())["status"]))
            await asyncio.sleep(1)

    async def chaos() -> None:
        await asyncio.sleep(args.redis_stop_at)
        bench_redis.stop()
        stopped = time.perf_counter() - start
        print(f"  redis stopped at {stopped:.1f} s")
        await poll_readiness(args.redis_stop_at + args.redis_down_s)
        bench_redis.start()
        print(f"  redis started at {time.perf_counter() - start:.1f} s")
        await poll_readiness(seconds)

    await asyncio.gather(
        open_loop(session, samples, "recommend", args.rate, seconds, recommend_call(url, draws), start),
        open_loop(session, samples, "feedback", args.feedback_rate, seconds, lambda i: (
            "POST", f"{url}/v1/feedback", {"session_id": f"bench-{i % 50}", "user_id": feedback[i][0],
                                           "item_id": feedback[i][1], "event": "click"}), start),
        chaos())
    figures = samples.report(f"redis: recommend {args.rate:g}/s + feedback {args.feedback_rate:g}/s for {seconds:g} s, "
                             f"Redis down from {args.redis_stop_at:g} s for {args.redis_down_s:g} s", seconds)
    stop_at = args.redis_stop_at
    late_errors = [when for when, _ in samples.errors["recommend"] if when >= stop_at + 1]
    stream = {entry.decode() for entry, _ in client.xrange("graphrec:feedback")}
    lost = [entry for entry in samples.accepted_feedback if entry not in stream]
    degraded_seen = any(status == "degraded" for _, status in readiness)
    recovered = readiness[-1][1] == "ok" if readiness else False
    print(f"  recommend errors from {stop_at + 1:g} s on: {len(late_errors)}; /readyz degraded while down: "
          f"{degraded_seen}; ok again after: {recovered}; feedback answered 202: {len(samples.accepted_feedback)}, "
          f"missing from the stream: {len(lost)}")
    figures["resilience"] = {"errors_after_first_second": len(late_errors), "degraded_seen": float(degraded_seen),
                             "recovered": float(recovered), "feedback_202": len(samples.accepted_feedback),
                             "feedback_lost": len(lost)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("var/synthetic-1m"))
    parser.add_argument("--phases", default="all",
                        help="all, or a comma list of cold,warm,sequential,steady,refresh,redis")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup-seconds", type=float, default=10)
    parser.add_argument("--explain-rate", type=float, default=20)
    parser.add_argument("--cold-rate", type=float, default=40)
    parser.add_argument("--cold-seconds", type=float, default=15)
    parser.add_argument("--feedback-rate", type=float, default=20)
    parser.add_argument("--refresh-max-s", type=float, default=600)
    parser.add_argument("--refresh-epochs", type=int, default=1)
    parser.add_argument("--redis-seconds", type=float, default=30)
    parser.add_argument("--redis-stop-at", type=float, default=10)
    parser.add_argument("--redis-down-s", type=float, default=10)
    parser.add_argument("--seed", type=int, default=7)
    run_benchmark(parser, run)


if __name__ == "__main__":
    main()
