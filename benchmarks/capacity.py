"""Capacity of one service process: the cached POST /v1/recommend rate it holds at p99 <= --p99-ms, open loop and
closed loop, beside the process's CPU (cores) at each step and the load generator's own.

The service runs on the embedded stack (LadybugDB, the embedded Redis) with its default logging; every user's
candidate set is cached first (at --prime-rate, again for any answer that came back degraded), so each step
measures cached answers.

  open     --rates, --seconds each, on a fixed schedule: latency counts from each request's scheduled send time,
           so a process that falls behind shows its queue. The capacity is the highest rate with no error and
           p99 <= --p99-ms.
  closed   --clients concurrent clients, each sending its next request when the last one is answered, --seconds
           each: the throughput a client pool gets, and its p99.

    python -m benchmarks.capacity --data-dir var/ml100k [--rates 400,600,800,1000,1200 --seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from benchmarks.loadgen import CLIENT_HEADERS, Samples, open_loop, process_counters, run_benchmark
from benchmarks.request_cpu import fixed_rate, metric_totals
from benchmarks.serving import Service, add_data_dir_option, copy_data_dir
from graphrec.graph.ids import plain_ids
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings


def users_of(data_dir: Path) -> list[Any]:
    from graphrec.graph.factory import open_store

    with open_store(Settings.from_env(data_dir=data_dir).graph, read_only=True) as store:
        return plain_ids(store.run("user_ids")["id"].tolist())


class Cores:
    """CPU cores used by a process, and by this one (the load generator), between start and stop."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def start(self) -> None:
        self.at, self.cpu, self.own = time.perf_counter(), process_counters(self.pid)[0], time.process_time()

    def stop(self) -> tuple[float, float]:
        wall = time.perf_counter() - self.at
        return (process_counters(self.pid)[0] - self.cpu) / wall, (time.process_time() - self.own) / wall


async def prime(session: aiohttp.ClientSession, url: str, users: list[Any], rate: float) -> None:
    """Every user's candidate set cached, none of them degraded."""
    calls = [("POST", f"{url}/v1/recommend", {"user_id": user, "k": 10}) for user in users]
    for _ in range(5):
        before = (await metric_totals(session, url))["degraded"]
        await fixed_rate(session, Samples(), "prime", rate, calls)
        if (await metric_totals(session, url))["degraded"] == before:
            return
    raise RuntimeError("answers kept coming back degraded while the caches filled")


async def closed_loop(session: aiohttp.ClientSession, url: str, users: list[Any], clients: int,
                      seconds: float) -> tuple[int, list[float], int]:
    """(answers, latencies in s, errors) of ``clients`` clients sending back to back for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                async with session.post(f"{url}/v1/recommend", json={"user_id": users[i % len(users)], "k": 10}) \
                        as answer:
                    await answer.read()
                    if answer.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - started)
            i += clients

    await asyncio.gather(*(client(n) for n in range(clients)))
    return len(latencies), latencies, errors


async def run(args: argparse.Namespace) -> dict:
    users = users_of(args.data_dir)
    figures: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                               "date": datetime.now(UTC).isoformat(), "data_dir": str(args.data_dir),
                               "p99_ms": args.p99_ms, "open": [], "closed": []}
    with tempfile.TemporaryDirectory() as work:
        data_dir = copy_data_dir(args.data_dir, Path(work))
        redis = EmbeddedRedis(Path(work) / "bench-redis").start()
        try:
            async with aiohttp.ClientSession(headers=CLIENT_HEADERS, timeout=aiohttp.ClientTimeout(total=30),
                                             connector=aiohttp.TCPConnector(limit=1024)) as session:
                # The capacity is the process's, not the key's: the client key's limit (GRAPHREC_RATE_LIMIT,
                # 1000/second by default) is lifted.
                service = Service(data_dir, redis.url, Path(work) / "service.log", warm=False, log_level="info",
                                  settings={"GRAPHREC_RATE_LIMIT": "1000000/second"})
                try:
                    await service.ready(session)
                    await prime(session, service.url, users, args.prime_rate)
                    cores = Cores(service.process.pid)
                    print(f"\nopen loop, {args.seconds:g} s per rate, cached POST /v1/recommend:")
                    for rate in args.rates:
                        samples = Samples()
                        cores.start()
                        await open_loop(session, samples, "recommend", rate, args.seconds,
                                        lambda i: ("POST", f"{service.url}/v1/recommend",
                                                   {"user_id": users[i % len(users)], "k": 10}),
                                        time.perf_counter())
                        service_cores, generator_cores = cores.stop()
                        done = np.asarray(samples.latencies["recommend"]) * 1_000
                        errors = len(samples.errors["recommend"])
                        step = {"rate": rate, "answered": int(done.size), "errors": errors,
                                "p50_ms": float(np.percentile(done, 50)) if done.size else None,
                                "p99_ms": float(np.percentile(done, 99)) if done.size else None,
                                "service_cores": service_cores, "generator_cores": generator_cores}
                        figures["open"].append(step)
                        print(f"  {rate:6.0f}/s  {errors:5d} errors  p50 {step['p50_ms'] or 0:8.2f} ms  "
                              f"p99 {step['p99_ms'] or 0:8.2f} ms  service {service_cores:.2f} cores  "
                              f"load generator {generator_cores:.2f} cores")
                        if errors or (step["p99_ms"] or 0) > args.p99_ms * 4:
                            break
                    held = [step["rate"] for step in figures["open"]
                            if not step["errors"] and step["p99_ms"] is not None and step["p99_ms"] <= args.p99_ms]
                    figures["open_capacity"] = max(held, default=0)
                    print(f"  held at p99 <= {args.p99_ms:g} ms: {figures['open_capacity']:.0f}/s")
                    print(f"\nclosed loop, {args.seconds:g} s per pool:")
                    for clients in args.clients:
                        cores.start()
                        answered, latencies, errors = await closed_loop(session, service.url, users, clients,
                                                                        args.seconds)
                        service_cores, generator_cores = cores.stop()
                        done = np.asarray(latencies) * 1_000
                        step = {"clients": clients, "per_s": answered / args.seconds, "errors": errors,
                                "p50_ms": float(np.percentile(done, 50)), "p99_ms": float(np.percentile(done, 99)),
                                "service_cores": service_cores, "generator_cores": generator_cores}
                        figures["closed"].append(step)
                        print(f"  {clients:4d} clients  {step['per_s']:7.0f}/s  {errors:5d} errors  p50 "
                              f"{step['p50_ms']:7.2f} ms  p99 {step['p99_ms']:7.2f} ms  service "
                              f"{service_cores:.2f} cores  load generator {generator_cores:.2f} cores")
                finally:
                    service.stop()
        finally:
            redis.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_option(parser)
    parser.add_argument("--rates", type=lambda text: [float(v) for v in text.split(",")],
                        default=[400.0, 600.0, 800.0, 1000.0, 1200.0])
    parser.add_argument("--clients", type=lambda text: [int(v) for v in text.split(",")], default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--p99-ms", type=float, default=50)
    parser.add_argument("--prime-rate", type=float, default=40)
    run_benchmark(parser, run)


if __name__ == "__main__":
    main()
