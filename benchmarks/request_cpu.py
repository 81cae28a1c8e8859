"""Service CPU per request, route by route: the process CPU time (all threads) of `graphrec serve` over a
fixed-rate run of each kind of request, beside the HTTP floor (a bare ASGI app under the same uvicorn).

Kinds, each at --rate for at least --requests requests, on a service without cache warming and with its default
logging (uvicorn's access log on):
  floor            POST / on a bare ASGI app that answers a small JSON body (uvicorn, no framework)
  recommend        POST /v1/recommend (k=10) of users whose candidate set is cached
  feedback         POST /v1/feedback: a click on an item of the user's last slate, with its slate_id, a session
                   and an event_id; the counter stops once the graph writer has acknowledged every event, so
                   the writer's share counts
  after-feedback   POST /v1/recommend of each user right after that feedback
  explain          GET /v1/explain of a user and one of its graph candidates

Feedback and after-feedback alternate in rounds over every user (one event per user per round).

    python -m benchmarks.request_cpu --data-dir var/ml100k [--rate 100 --requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import redis

from benchmarks.loadgen import CLIENT_HEADERS, Samples, free_port, open_loop, process_counters, run_benchmark
from benchmarks.serving import Service, add_data_dir_option, copy_data_dir
from graphrec.graph.ids import plain_ids
from graphrec.serving.settings import ServingSettings
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings

STREAM, GROUP = "graphrec:feedback", b"graph-writer"
KINDS = ("floor", "recommend", "feedback", "explain")
DEGRADED_TTL_S: float = ServingSettings.model_fields["degraded_cache_ttl_s"].default


async def floor_app(scope: dict, receive: Any, send: Any) -> None:
    """The HTTP floor: read the body, answer a fixed small JSON body."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


class Meter:
    """CPU seconds of one process between start() and stop(), summed over segments, per request."""

    def __init__(self, pid: int) -> None:
        self.pid, self.seconds, self.requests, self._since = pid, 0.0, 0, 0.0

    def start(self) -> None:
        self._since = process_counters(self.pid)[0]

    def stop(self, requests: int) -> None:
        self.seconds += process_counters(self.pid)[0] - self._since
        self.requests += requests

    @property
    def ms_per_request(self) -> float:
        return self.seconds * 1_000 / max(self.requests, 1)


async def fixed_rate(session: aiohttp.ClientSession, samples: Samples, name: str, rate: float, calls: list) -> None:
    """``calls`` (method, url, json) sent at ``rate`` a second, open loop."""
    await open_loop(session, samples, name, rate, len(calls) / rate, lambda i: calls[i], time.perf_counter())


async def floor(session: aiohttp.ClientSession, args: argparse.Namespace) -> float:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "benchmarks.request_cpu:floor_app", "--port",
                                str(port), "--log-level", "warning"])
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(200):
            try:
                async with session.post(url, json={}) as answer:
                    if answer.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        meter, samples = Meter(process.pid), Samples()
        meter.start()
        await fixed_rate(session, samples, "floor", args.rate, [("POST", url, {"user_id": 1, "k": 10})] * args.requests)
        meter.stop(args.requests)
        samples.report("floor: a bare ASGI app under uvicorn", args.requests / args.rate)
        return meter.ms_per_request
    finally:
        process.terminate()
        process.wait(timeout=30)


async def metric_totals(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The service's candidate-cache hits and misses and its degraded answers so far (/metrics)."""
    async with session.get(f"{url}/metrics") as answer:
        text = await answer.text()
    totals = {"hit": 0.0, "miss": 0.0, "degraded": 0.0}
    for line in text.splitlines():
        for name, prefix in (("hit", 'graphrec_candidate_cache_total{result="hit"}'),
                             ("miss", 'graphrec_candidate_cache_total{result="miss"}'),
                             ("degraded", "graphrec_degraded_responses_total{")):
            if line.startswith(prefix):
                totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def drained(client: redis.Redis) -> bool:
    """Whether the graph writer has acknowledged every feedback entry."""
    if not client.exists(STREAM):
        return True
    last = client.xinfo_stream(STREAM)["last-generated-id"]
    groups = [g for g in client.xinfo_groups(STREAM) if g["name"] == GROUP]
    return bool(groups) and groups[0]["pending"] == 0 and groups[0]["last-delivered-id"] == last


async def wait_drained(client: redis.Redis, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not drained(client):
        if time.monotonic() > deadline:
            raise RuntimeError("the graph writer did not catch up")
        await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> dict:
    from graphrec.graph.factory import open_store

    with open_store(Settings.from_env(data_dir=args.data_dir).graph, read_only=True) as store:
        users = store.run("user_ids")["id"].tolist()
        pairs = []
        for user in random.Random(1).sample(users, min(200, len(users))):
            found = store.candidates(user, limit=1)
            if len(found):
                pairs.append((user, found["item_id"].iloc[0]))
    users = plain_ids(users)[: args.users]
    pairs = list(zip(plain_ids(u for u, _ in pairs), plain_ids(i for _, i in pairs), strict=True))
    figures: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                               "date": datetime.now(UTC).isoformat(), "data_dir": str(args.data_dir),
                               "rate": args.rate, "cpu_ms_per_request": {}, "requests": {}}
    cpu, counted = figures["cpu_ms_per_request"], figures["requests"]
    with tempfile.TemporaryDirectory() as work:
        data_dir = copy_data_dir(args.data_dir, Path(work))
        bench_redis = EmbeddedRedis(Path(work) / "bench-redis").start()
        client = redis.Redis.from_url(bench_redis.url)
        generator_before = time.process_time()
        started = time.perf_counter()
        try:
            async with aiohttp.ClientSession(headers=CLIENT_HEADERS, timeout=aiohttp.ClientTimeout(total=30),
                                             connector=aiohttp.TCPConnector(limit=256)) as session:
                if "floor" in args.kinds:
                    cpu["floor"] = await floor(session, args)
                service = Service(data_dir, bench_redis.url, Path(work) / "service.log", warm=False,
                                  log_level=args.log_level)
                try:
                    await service.ready(session)
                    await measure_service(session, args, service, users, pairs, client, cpu, counted)
                finally:
                    service.stop()
        finally:
            bench_redis.stop()
        figures["load_generator_cores"] = (time.process_time() - generator_before) / (time.perf_counter() - started)
    print("\nservice CPU per request (ms, process CPU time over the requests of each kind):")
    for name, value in cpu.items():
        print(f"  {name:<15} {value:6.2f}   ({counted.get(name, args.requests):,} requests at {args.rate:g}/s)")
    print(f"  cached recommend: {counted['recommend cache hits']:,} of {counted['recommend']:,} were cache hits")
    print(f"  load generator {figures['load_generator_cores']:.2f} cores on average")
    return figures


async def measure_service(session: aiohttp.ClientSession, args: argparse.Namespace, service: Service, users: list,
                          pairs: list, client: redis.Redis, cpu: dict, counted: dict) -> None:
    url = service.url
    slates: dict[Any, dict] = {}

    async def recommend_all(name: str, meter: Meter | None, rounds: int = 1) -> None:
        calls = [("POST", f"{url}/v1/recommend", {"user_id": user, "k": 10}) for user in users] * rounds
        samples = Samples()
        if meter:
            meter.start()
        await fixed_rate(session, samples, name, args.rate, calls)
        if meter:
            meter.stop(len(calls))
        assert not samples.errors[name], samples.errors[name][:3]

    # The slates the feedback names come from the answers: a recording session keeps each user's last one.
    async def remember(session_: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        if params.url.path == "/v1/recommend" and params.response.status == 200:
            answer = await params.response.json()
            slates[answer["user_id"]] = answer

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(remember)
    # A set built while the graph was over the request budget is cached for seconds only (degraded): fill the
    # caches until no answer was degraded, so that the measured requests are all cache hits.
    for _ in range(5):
        degraded_before = (await metric_totals(session, url))["degraded"]
        async with aiohttp.ClientSession(headers=CLIENT_HEADERS, trace_configs=[trace]) as recording:
            calls = [("POST", f"{url}/v1/recommend", {"user_id": user, "k": 10}) for user in users]
            await fixed_rate(recording, Samples(), "prime", args.prime_rate, calls)
        if (await metric_totals(session, url))["degraded"] == degraded_before:
            break
        await asyncio.sleep(DEGRADED_TTL_S + 1)
    cached, before = Meter(service.process.pid), await metric_totals(session, url)
    rounds = -(-args.requests // len(users))
    await recommend_all("recommend", cached, rounds)
    after = await metric_totals(session, url)
    cpu["recommend"], counted["recommend"] = cached.ms_per_request, cached.requests
    counted["recommend cache hits"] = int(after["hit"] - before["hit"])
    if "feedback" not in args.kinds and "explain" not in args.kinds:
        return

    feedback, after_feedback = Meter(service.process.pid), Meter(service.process.pid)
    for round_ in range(rounds if "feedback" in args.kinds else 0):
        calls = []
        for user in users:
            slate = slates[user]
            calls.append(("POST", f"{url}/v1/feedback", {
                "session_id": f"cpu-{user}", "user_id": user, "item_id": slate["items"][0]["item_id"],
                "event": "click", "slate_id": slate["slate_id"], "event_id": f"cpu-{round_}-{user}"}))
        samples = Samples()
        feedback.start()
        await fixed_rate(session, samples, "feedback", args.rate, calls)
        await wait_drained(client)
        feedback.stop(len(calls))
        assert not samples.errors["feedback"], samples.errors["feedback"][:3]
        async with aiohttp.ClientSession(headers=CLIENT_HEADERS, trace_configs=[trace]) as recording:
            samples = Samples()
            after_feedback.start()
            await fixed_rate(recording, samples, "after-feedback", args.rate,
                             [("POST", f"{url}/v1/recommend", {"user_id": user, "k": 10}) for user in users])
            after_feedback.stop(len(users))
            assert not samples.errors["after-feedback"], samples.errors["after-feedback"][:3]
    if "feedback" in args.kinds:
        cpu["feedback"], counted["feedback"] = feedback.ms_per_request, feedback.requests
        cpu["after-feedback"], counted["after-feedback"] = after_feedback.ms_per_request, after_feedback.requests
    if "explain" not in args.kinds:
        return

    explain, samples = Meter(service.process.pid), Samples()
    calls = [("GET", f"{url}/v1/explain?user_id={pairs[i % len(pairs)][0]}&item_id={pairs[i % len(pairs)][1]}",
              None) for i in range(args.requests)]
    explain.start()
    await fixed_rate(session, samples, "explain", args.rate, calls)
    explain.stop(len(calls))
    assert not samples.errors["explain"], samples.errors["explain"][:3]
    cpu["explain"], counted["explain"] = explain.ms_per_request, explain.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_option(parser)
    parser.add_argument("--rate", type=float, default=100, help="Requests a second in each measured run.")
    parser.add_argument("--prime-rate", type=float, default=40, help="Requests a second that fill the caches.")
    parser.add_argument("--requests", type=int, default=3_000, help="At least this many requests of each kind.")
    parser.add_argument("--users", type=int, default=1_000, help="Users asked for (the first of the graph's).")
    parser.add_argument("--kinds", type=lambda text: set(text.split(",")), default=set(KINDS),
                        help=f"A comma list of {','.join(KINDS)} (recommend always runs: it fills the caches).")
    parser.add_argument("--log-level", default="info", help="The service's (and so its access log's) level.")
    run_benchmark(parser, run)


if __name__ == "__main__":
    main()
