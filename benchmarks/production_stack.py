"""Serving on the production stack: two `graphrec serve` replicas on one Neo4j server and one Redis 7 server.

The load is open loop (benchmarks/loadgen.py), split round-robin over the replicas a client-side balancer
holds in rotation: it checks each replica's /readyz every 0.5 s and routes only to those answering 200, as a
load balancer's health check does (requests already sent to a replica that dies count as that replica's).

Phases:
  steady   /v1/recommend at --rate for --seconds
  refresh  the same load while `graphrec refresh` reads Neo4j, retrains, publishes to the shared artifact
           folder; until both replicas serve the new version, plus 10 s
  kill     the same load for --kill-seconds; replica A is SIGKILLed at --kill-at s; errors per replica
  neo4j    (A restarted and ready first) the same load plus positive feedback at --feedback-rate; the Neo4j
           process is killed at --neo4j-stop-at s and started again on the same store and port --neo4j-down-s
           later: recommend errors and p99 during the outage, the time from Bolt accepting connections to both
           replicas at /readyz ok with no `graph` in any answer's degraded list, and every feedback answered 202
           in the graph exactly once (each event a new (user, item) click, so its count must be 1)
  redis    the same load plus feedback; Redis stopped at --redis-stop-at s for --redis-down-s s: recommend
           errors, feedback answered 202 or 503, every 202 in the stream afterwards, /readyz on both replicas

Neo4j is started here from tests/neo4j_server.py (heap and page cache printed), Redis 7 from Debian's
redis-server. The data is MovieLens-100K from ../shared/data, ingested into Neo4j and trained from it.

    python -m benchmarks.production_stack [--rate 200 --seconds 60 --phases steady,refresh,kill,neo4j]
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
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import redis

from benchmarks import loadgen
from graphrec.graph.factory import open_store
from graphrec.graph.ids import plain_ids
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings
from tests import neo4j_server

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NEO4J_HEAP, NEO4J_PAGE_CACHE = "2g", "1g"


class Replica:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.port = loadgen.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        self.process = subprocess.Popen([sys.executable, "-m", "graphrec", "serve", "--port", str(self.port),
                                         "--log-level", "warning"], env=self.env, stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT)
        return self

    async def ready(self, session: aiohttp.ClientSession, timeout_s: float = 600) -> float:
        """Seconds to the first 200 of /readyz."""
        began = time.perf_counter()
        while time.perf_counter() - began < timeout_s:
            assert self.process is not None and self.process.poll() is None, f"{self.name} exited; see {self.log}"
            try:
                async with session.get(f"{self.url}/readyz") as answer:
                    if answer.status == 200:
                        return time.perf_counter() - began
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"replica {self.name} was not ready in {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class Balancer:
    """Round-robin over the replicas whose last health check answered 200."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas, self.healthy = replicas, set(range(len(replicas)))
        self.turn = 0

    def pick(self) -> Replica:
        pool = sorted(self.healthy) or list(range(len(self.replicas)))
        self.turn += 1
        return self.replicas[pool[self.turn % len(pool)]]

    async def check(self, session: aiohttp.ClientSession, until: float) -> None:
        while time.perf_counter() < until:
            for number, replica in enumerate(self.replicas):
                try:
                    async with session.get(f"{replica.url}/readyz", timeout=aiohttp.ClientTimeout(total=1)) as answer:
                        ok = answer.status == 200
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
                (self.healthy.add if ok else self.healthy.discard)(number)
            await asyncio.sleep(0.5)


async def readyz(session: aiohttp.ClientSession, replicas: list[Replica], key: str = "status") -> list[Any]:
    """Each replica's /readyz ``key`` (status, artifact_version, checks)."""
    found = []
    for replica in replicas:
        async with session.get(f"{replica.url}/readyz") as answer:
            found.append((await answer.json())[key])
    return found


def feedback(balancer: Balancer, pair, prefix: str):  # type: ignore[no-untyped-def]
    """The i-th positive feedback event (a click on ``pair(i)`` = (user, item)), sent to the next replica."""
    def call(i: int) -> tuple[str, str, str, dict]:
        replica = balancer.pick()
        user, item = pair(i)
        return f"feedback {replica.name}", "POST", f"{replica.url}/v1/feedback", {
            "session_id": f"{prefix}-{i % 20}", "user_id": user, "item_id": item, "event": "click"}
    return call


def recommend(balancer: Balancer, users: list, rng: random.Random):  # type: ignore[no-untyped-def]
    def call(i: int) -> tuple[str, str, str, dict]:
        replica = balancer.pick()
        return f"recommend {replica.name}", "POST", f"{replica.url}/v1/recommend", {"user_id": rng.choice(users),
                                                                                      "k": 10}
    return call


async def load(session: aiohttp.ClientSession, balancer: Balancer, samples, rate: float, seconds: float,  # type: ignore[no-untyped-def]
               call, started: float) -> None:
    await asyncio.gather(loadgen.routed_loop(session, samples, rate, seconds, call, started),
                         balancer.check(session, started + seconds))


def combined(samples, title: str, seconds: float, since: float = 0.0, until: float = float("inf")) -> dict:  # type: ignore[no-untyped-def]
    """All replicas' recommend requests sent between ``since`` and ``until`` s: requests, errors, p50/p95/p99."""
    values = [latency * 1_000 for name, latencies in samples.latencies.items() if name.startswith("recommend")
              for latency, sent in zip(latencies, samples.sent_at[name], strict=True) if since <= sent < until]
    errors = sum(since <= when < until for name, found in samples.errors.items() if name.startswith("recommend")
                 for when, _ in found)
    row = {"requests": len(values) + errors, "errors": errors,
           **{f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}}
    print(f"  {title}: {row['requests']:,} requests {errors} errors  p50 {row['p50']:.2f} ms  p95 {row['p95']:.2f} ms"
          f"  p99 {row['p99']:.2f} ms")
    return row


def graphrec(env: dict[str, str], *args: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "graphrec", *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


async def run(args: argparse.Namespace, root: Path) -> None:
    server = neo4j_server.Neo4jServer(home=root / "neo4j", heap=NEO4J_HEAP, page_cache=NEO4J_PAGE_CACHE,
                                      nice=args.neo4j_nice).start()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: bash .ci/system-deps installs it")
    redis_server = EmbeddedRedis(root / "redis", binary=binary, port=loadgen.free_port(),
                                 password="bench-redis").start()
    deadline = "derived" if args.graph_deadline_s is None else args.graph_deadline_s or "none"
    print(f"# graph deadline per recommendation: {deadline}; Neo4j at nice "
          f"{args.neo4j_nice}")
    print(f"# Neo4j {server.version()} (heap {NEO4J_HEAP}, page cache {NEO4J_PAGE_CACHE}, started in "
          f"{server.started_in_s:.1f} s); Redis {binary}; all on this machine")
    data_dir = root / "var"
    os.environ.update(server.environment())  # this script's own store reads the same server
    env = {**os.environ, **server.environment(), "GRAPHREC_DATA_DIR": str(data_dir), "GRAPHREC_GRAPH_BACKEND": "neo4j",
           "REDIS_URL": redis_server.url, **loadgen.keys_env(), "GRAPHREC_RELOAD_POLL_S": "0.5",
           **({"GRAPHREC_GRAPH_REQUEST_DEADLINE_S": str(args.graph_deadline_s)}
              if args.graph_deadline_s is not None else {})}
    replicas: list[Replica] = []
    try:
        steps = {"ingest": graphrec(env, "ingest", "movielens", "--path", str(SHARED / "movielens-100k")),
                 "train": graphrec(env, "train", "--epochs", str(args.train_epochs)),
                 "index": graphrec(env, "index"), "publish": graphrec(env, "publish")}
        print("# set-up: " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items()))
        settings = Settings.from_env(data_dir=data_dir, graph_backend="neo4j")
        with open_store(settings.graph) as store:
            users = plain_ids(store.run("user_ids")["id"])
            items = plain_ids(store.run("item_titles")["id"])
            seen = {(int(u), int(i)) for u, i in store.interactions()[["user_id", "item_id"]].itertuples(index=False)}
        rng = random.Random(args.seed)
        replicas = [Replica(name, env, root / f"replica-{name}.log").start() for name in ("A", "B")]
        gc.collect()
        gc.freeze()
        async with aiohttp.ClientSession(headers=loadgen.CLIENT_HEADERS, timeout=aiohttp.ClientTimeout(total=30),
                                         connector=aiohttp.TCPConnector(limit=256)) as session:
            ready = await asyncio.gather(*(replica.ready(session) for replica in replicas))
            print(f"# replicas ready (first 200 of /readyz, cache warmed) in {ready[0]:.1f} s and {ready[1]:.1f} s")
            for replica, checks in zip(replicas, await readyz(session, replicas, "checks"), strict=True):
                print(f"# replica {replica.name}: graph {checks['graph']['detail']}")
            balancer = Balancer(replicas)
            phases = args.phases.split(",")
            if "steady" in phases:
                samples = loadgen.Samples()
                await load(session, balancer, samples, args.rate, args.seconds, recommend(balancer, users, rng),
                           time.perf_counter())
                samples.report(f"steady: recommend {args.rate:g}/s over two replicas for {args.seconds:g} s",
                               args.seconds)
                combined(samples, "both replicas", args.seconds)
                print(f"  answers degraded by the graph: {sum('graph' in what for _, _, what in samples.degraded)}")
            if "refresh" in phases:
                await refresh_phase(session, balancer, args, env, users, rng)
            if "kill" in phases:
                samples = loadgen.Samples()
                started = time.perf_counter()

                async def kill() -> None:
                    await asyncio.sleep(args.kill_at)
                    assert replicas[0].process is not None
                    replicas[0].process.kill()
                    print(f"  replica A killed (SIGKILL) at {time.perf_counter() - started:.1f} s")

                await asyncio.gather(load(session, balancer, samples, args.rate, args.kill_seconds,
                                          recommend(balancer, users, rng), started), kill())
                samples.report(f"kill: recommend {args.rate:g}/s for {args.kill_seconds:g} s, replica A killed at "
                               f"{args.kill_at:g} s", args.kill_seconds)
                replicas[0].start()
                print(f"  replica A restarted, ready in {await replicas[0].ready(session):.1f} s")
            if "neo4j" in phases:
                await neo4j_phase(session, balancer, args, server, settings, users, items, seen, rng)
            if "redis" in phases:
                await redis_phase(session, balancer, args, redis_server, users, items, rng)
    finally:
        for replica in replicas:
            replica.stop()
        redis_server.stop()
        server.stop()


async def refresh_phase(session: aiohttp.ClientSession, balancer: Balancer, args: argparse.Namespace,
                        env: dict[str, str], users: list, rng: random.Random) -> None:
    before = set(await readyz(session, balancer.replicas, "artifact_version"))
    samples = loadgen.Samples()
    started = time.perf_counter()
    job = await asyncio.create_subprocess_exec(sys.executable, "-m", "graphrec", "refresh", "--epochs",
                                               str(args.refresh_epochs), "--force", env=env,
                                               stdout=asyncio.subprocess.DEVNULL)
    swapped_at = None
    while time.perf_counter() - started < args.refresh_max_s:
        await load(session, balancer, samples, args.rate, 10, recommend(balancer, users, rng), time.perf_counter())
        if swapped_at is not None:
            break
        if not set(await readyz(session, balancer.replicas, "artifact_version")) & before:
            swapped_at = time.perf_counter() - started
    await job.wait()
    seconds = time.perf_counter() - started
    swap = f"{swapped_at:.0f} s" if swapped_at else f"NOT within {args.refresh_max_s:g} s"
    samples.report(f"refresh: recommend {args.rate:g}/s for {seconds:.0f} s while `graphrec refresh` retrains from "
                   f"Neo4j ({args.refresh_epochs} epoch) and publishes (exit {job.returncode}); both replicas on the "
                   f"new version by {swap}", seconds)
    combined(samples, "both replicas", seconds)


async def neo4j_phase(session: aiohttp.ClientSession, balancer: Balancer, args: argparse.Namespace,
                      server, settings: Settings, users: list, items: list, seen: set,  # type: ignore[no-untyped-def]
                      rng: random.Random) -> None:
    seconds = args.neo4j_seconds
    pairs: list[tuple[int, int]] = []
    while len(pairs) < int(args.feedback_rate * seconds):
        pair = (rng.choice(users), rng.choice(items))
        if pair not in seen and pair not in pairs:
            pairs.append(pair)
    samples = loadgen.Samples()
    started = time.perf_counter()
    marks: dict[str, float] = {}

    async def outage() -> None:
        await asyncio.sleep(args.neo4j_stop_at)
        await asyncio.to_thread(server.kill)  # waiting for the process to end must not stall the load
        marks["down"] = time.perf_counter() - started
        await asyncio.sleep(args.neo4j_down_s)
        await asyncio.to_thread(server.start)
        marks["bolt"] = time.perf_counter() - started
        while time.perf_counter() - started < seconds:
            if all(status == "ok" for status in await readyz(session, balancer.replicas)):
                marks["ok"] = time.perf_counter() - started
                return
            await asyncio.sleep(0.1)

    lag = loadgen.LoopLag(started)
    await asyncio.gather(
        load(session, balancer, samples, args.rate, seconds, recommend(balancer, users, rng), started),
        loadgen.routed_loop(session, samples, args.feedback_rate, seconds, feedback(balancer, pairs.__getitem__,
                                                                                      "outage"), started), outage(),
        lag.watch(seconds))
    samples.report(f"neo4j: recommend {args.rate:g}/s + feedback {args.feedback_rate:g}/s for {seconds:g} s, Neo4j "
                   f"killed at {marks['down']:.1f} s, Bolt accepting again at {marks['bolt']:.1f} s", seconds)
    combined(samples, "recommend while Neo4j was down", seconds, marks["down"], marks["bolt"])
    slow = [int(sent) for name, latencies in samples.latencies.items() if name.startswith("recommend")
            for latency, sent in zip(latencies, samples.sent_at[name], strict=True) if latency > 0.1]
    print("  recommend answers over 100 ms, per second sent: " + " ".join(
        f"{second}s:{slow.count(second)}" for second in sorted(set(slow))))
    lag.report()
    ok = marks.get("ok")
    last_graph = max((when for when, _, what in samples.degraded if "graph" in what), default=None)
    print(f"  both replicas /readyz ok {ok - marks['bolt']:.1f} s after Bolt accepted" if ok else
          "  /readyz NOT ok on both replicas by the end of the phase")
    print(f"  last answer degraded by the graph: sent at {last_graph:.1f} s" if last_graph else
          "  no answer was degraded by the graph")
    after = [int(when) for when, _, what in samples.degraded if "graph" in what and when >= marks["bolt"]]
    print("  answers degraded by the graph after Bolt accepted, per second sent: " + " ".join(
        f"{second}s:{after.count(second)}" for second in sorted(set(after))))
    accepted = [(body["user_id"], body["item_id"]) for body in samples.accepted_bodies]
    deadline = time.monotonic() + 60
    with open_store(settings.graph) as store:
        while True:
            counts = {}
            for user in {user for user, _ in accepted}:
                history = store.history(user, limit=10_000)
                clicks = history[history["behavior"] == "click"]
                counts.update({(user, int(item)): int(n) for item, n in zip(clicks["item_id"], clicks["count"],
                                                                            strict=True)})
            found = [counts.get(pair, 0) for pair in accepted]
            if all(n >= 1 for n in found) or time.monotonic() > deadline:
                break
            time.sleep(1)
    print(f"  feedback answered 202: {len(accepted)}; in the graph: {sum(n >= 1 for n in found)}, "
          f"counted twice or more: {sum(n > 1 for n in found)}, missing: {sum(n == 0 for n in found)}")


async def redis_phase(session: aiohttp.ClientSession, balancer: Balancer, args: argparse.Namespace,
                      redis_server: EmbeddedRedis, users: list, items: list, rng: random.Random) -> None:
    seconds = args.redis_seconds
    samples = loadgen.Samples()
    started = time.perf_counter()
    seen: list[list[str]] = []  # /readyz of both replicas, every 0.5 s from the restart on

    async def outage() -> None:
        await asyncio.sleep(args.redis_stop_at)
        await asyncio.to_thread(redis_server.stop)
        await asyncio.sleep(args.redis_down_s)
        await asyncio.to_thread(redis_server.start)
        while time.perf_counter() - started < seconds:
            seen.append(await readyz(session, balancer.replicas))
            await asyncio.sleep(0.5)

    await asyncio.gather(
        load(session, balancer, samples, args.rate, seconds, recommend(balancer, users, rng), started),
        loadgen.routed_loop(session, samples, args.feedback_rate, seconds, feedback(
            balancer, lambda _: (rng.choice(users), rng.choice(items)), "redis"), started), outage())
    samples.report(f"redis: recommend {args.rate:g}/s + feedback {args.feedback_rate:g}/s for {seconds:g} s, Redis "
                   f"stopped at {args.redis_stop_at:g} s for {args.redis_down_s:g} s", seconds)
    combined(samples, "recommend, both replicas", seconds)
    client = redis.Redis.from_url(redis_server.url)
    stream = {entry.decode() for entry, _ in client.xrange("graphrec:feedback")}
    lost = [entry for entry in samples.accepted_feedback if entry not in stream]
    print(f"  feedback answered 202: {len(samples.accepted_feedback)}, answered 503: {sum(samples.refused.values())}, "
          f"202 but missing from the stream: {len(lost)}; /readyz at the end: {seen[-1] if seen else '?'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default="steady,refresh,kill,neo4j,redis")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--train-epochs", type=int, default=20)
    parser.add_argument("--refresh-epochs", type=int, default=1)
    parser.add_argument("--refresh-max-s", type=float, default=300)
    parser.add_argument("--kill-seconds", type=float, default=40)
    parser.add_argument("--kill-at", type=float, default=20)
    parser.add_argument("--neo4j-seconds", type=float, default=60)
    parser.add_argument("--neo4j-stop-at", type=float, default=10)
    parser.add_argument("--neo4j-down-s", type=float, default=10)
    parser.add_argument("--feedback-rate", type=float, default=20)
    parser.add_argument("--redis-seconds", type=float, default=30)
    parser.add_argument("--redis-stop-at", type=float, default=10)
    parser.add_argument("--redis-down-s", type=float, default=10)
    parser.add_argument("--graph-deadline-s", type=float,
                        help="GRAPHREC_GRAPH_REQUEST_DEADLINE_S for the replicas (default: unset, derived by each "
                             "replica from its measured graph times; 0: none)")
    parser.add_argument("--neo4j-nice", type=int, default=0,
                        help="CPU priority of the Neo4j server (10: it yields the shared cores to the replicas)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not (SHARED / "movielens-100k").is_dir():
        raise SystemExit(f"{SHARED / 'movielens-100k'} is absent")
    print(f"# graphrec production-stack serving benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(run(args, Path(scratch)))


if __name__ == "__main__":
    main()
