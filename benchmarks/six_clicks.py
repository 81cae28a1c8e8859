"""Six clicks: one user clicks one item of one slate six times within a second, each with its own event_id.

On a served copy of a data folder (its own Redis; the graph backend as the environment says, so
GRAPHREC_GRAPH_BACKEND=neo4j with NEO4J_URI and NEO4J_PASSWORD serves a Neo4j graph holding the same dataset).
Printed: each answer, how long the six took to send, and the user's history status and click count on the item
before and once the writer has written them. Counted once means the count rose by exactly 6.

    python -m benchmarks.six_clicks --data-dir var/ml100k [--user 300]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from benchmarks.loadgen import CLIENT_HEADERS
from benchmarks.serving import Service, add_data_dir_option, copy_data_dir
from graphrec.serving.state.embedded_redis import EmbeddedRedis


def run(args: argparse.Namespace) -> bool:
    work = Path(tempfile.mkdtemp(prefix="six-"))
    redis_server = EmbeddedRedis(work / "redis").start()
    service = Service(copy_data_dir(args.data_dir, work), redis_server.url, work / "service.log", warm=False)
    try:
        async def ready() -> None:
            async with aiohttp.ClientSession() as session:
                await service.ready(session)

        asyncio.run(ready())
        client = httpx.Client(base_url=service.url, headers=CLIENT_HEADERS, timeout=30)
        slate = client.post("/v1/recommend", json={"user_id": args.user, "k": 10, "session_id": "six"}).json()
        item = slate["items"][0]["item_id"]

        def clicks() -> tuple[int, int]:
            history = client.get(f"/v1/users/{args.user}/history", params={"limit": 1_000})
            found = history.json()["items"] if history.status_code == 200 else []
            return history.status_code, sum(entry["count"] for entry in found
                                            if entry["item_id"] == item and entry["behavior"] == "click")

        before = clicks()
        started = time.perf_counter()
        answers = [client.post("/v1/feedback", json={"session_id": "six", "user_id": args.user, "item_id": item,
                                                     "event": "click", "slate_id": slate["slate_id"],
                                                     "event_id": f"six-{n}"}) for n in range(6)]
        sent_s = time.perf_counter() - started
        deadline = time.monotonic() + 30
        while (after := clicks())[1] < before[1] + 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # two more writer gathers: nothing is added later
        after = clicks()
    finally:
        service.stop()
        redis_server.stop()
    print(f"user {args.user}, item {item}: answers {[(a.status_code, a.json().get('duplicate')) for a in answers]} "
          f"sent in {sent_s:.3f} s; history {before[0]} with {before[1]} clicks before, {after[0]} with {after[1]} "
          f"after; counted once: {'met' if after == (200, before[1] + 6) else 'NOT met'}")
    return after == (200, before[1] + 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_option(parser)
    parser.add_argument("--user", type=int, default=300)
    raise SystemExit(0 if run(parser.parse_args()) else 1)


if __name__ == "__main__":
    main()
