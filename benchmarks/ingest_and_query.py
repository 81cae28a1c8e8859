"""Ingest throughput and query latency of both graph stores: embedded LadybugDB and a Neo4j server.

1. A synthetic graph shaped like MovieLens-1M (6,040 users, 3,706 items, 1,000,209 ratings, 18 genres, years,
   1,000 artists) is written to the generic CSV layout, then ingested from those files into an empty
   graph: rows/s end to end, from the CSV files to the last commit. The same files are ingested again (the
   idempotent re-run).
2. The same for MovieLens-100K from ../shared/data, when present.
3. On the synthetic graph: candidate latency (KG 1 and 2 entity hops, collaborative) and explanation latency,
   p50/p99 over 200 random users (explanations: each user with one of their top KG candidates).

Neo4j is the server NEO4J_URI names, or a Neo4j Community server started for the run (tests/neo4j_server.py)
with a 4 GB heap and a 2 GB page cache, on the same machine.

    python -m benchmarks.ingest_and_query [--backends ladybug,neo4j --users 6040 --items 3706
                                           --interactions 1000209 --requests 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graphrec.graph.explain import explain
from graphrec.graph.factory import open_store
from graphrec.ingest import generic, movielens
from graphrec.ingest.loader import ingest
from graphrec.ingest.synthetic import generate
from graphrec.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NEO4J_HEAP = "4g"
NEO4J_PAGE_CACHE = "2g"


def write_generic(folder: Path, users: int, items: int, interactions: int, seed: int) -> None:
    data = generate(users=users, items=items, interactions=interactions, seed=seed, genres=18, artists=1_000)
    folder.mkdir(parents=True, exist_ok=True)
    data.interactions.rename(columns={"last_ts": "timestamp"})[
        ["user_id", "item_id", "rating", "timestamp"]].to_csv(folder / "interactions.csv", index=False)
    data.triples.to_csv(folder / "triples.csv", index=False)
    data.items.to_csv(folder / "items.csv", index=False)


def percentiles(samples: list[float]) -> str:
    return f"p50 {np.percentile(samples, 50):6.1f} ms   p99 {np.percentile(samples, 99):6.1f} ms"


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1_000


def bench_backend(name: str, settings: Callable[[str], Settings], source: Path, args: argparse.Namespace) -> None:
    """Ingest, re-run and query latency on one backend; ``settings(part)`` gives an empty graph per part."""
    print(f"## {name}")
    with open_store(settings("synthetic").graph) as store:
        first = ingest(store, lambda: generic.read(source), show_progress=False)
        print(f"synthetic ingest          {first.rows_read:>10,} rows  {first.seconds:7.2f} s  "
              f"{first.rows_per_second:>10,.0f} rows/s (parsing included; "
              f"{args.interactions / first.seconds:,.0f} interactions/s; {first.rows_written:,} rows written)")
        again = ingest(store, lambda: generic.read(source), show_progress=False)
        print(f"synthetic re-run          {again.rows_read:>10,} rows  {again.seconds:7.2f} s  "
              f"wrote {again.rows_written} rows; counts {store.stats()['interactions']:,} interactions")

        rng = np.random.default_rng(args.seed)
        users = rng.choice(np.arange(1, args.users + 1), size=args.requests, replace=False).tolist()
        store.candidates(users[0])  # warm the caches and the query plans
        for label, kwargs in (("KG candidates, 1 hop", {"source": "kg", "hops": 1}),
                              ("KG candidates, 2 hops", {"source": "kg", "hops": 2}),
                              ("collab candidates", {"source": "collab"})):
            samples = [timed(lambda u=u, kw=kwargs: store.candidates(u, limit=100, **kw)) for u in users]
            print(f"{label:<26}{percentiles(samples)}   (top 100, {len(users)} users)")
        pairs = []
        for user in users:
            top = store.candidates(user, limit=10)["item_id"].tolist()
            if top:
                pairs.append((user, top[int(rng.integers(len(top)))]))
        samples = [timed(lambda u=u, i=i: explain(store, u, i, k=3)) for u, i in pairs]
        print(f"{'explanation (k=3)':<26}{percentiles(samples)}   ({len(pairs)} user-item pairs)")

    ml100k = SHARED / "movielens-100k"
    if not ml100k.is_dir():
        print(f"MovieLens-100K: skipped ({ml100k} absent)")
        return
    with open_store(settings("ml100k").graph) as store:
        first = ingest(store, lambda: movielens.read(ml100k), show_progress=False)
        print(f"MovieLens-100K ingest     {first.rows_read:>10,} rows  {first.seconds:7.2f} s  "
              f"{first.rows_per_second:>10,.0f} rows/s")
        again = ingest(store, lambda: movielens.read(ml100k), show_progress=False)
        print(f"MovieLens-100K re-run     {again.rows_read:>10,} rows  {again.seconds:7.2f} s  "
              f"wrote {again.rows_written} rows")


@contextlib.contextmanager
def neo4j_settings(root: Path) -> Iterator[Callable[[str], Settings]]:
    """An empty Neo4j database per part: the server NEO4J_URI names, or one started here for the run."""
    server = None
    if not os.environ.get("NEO4J_URI"):
        from tests.neo4j_server import Neo4jServer

        server = Neo4jServer(home=root / "neo4j", heap=NEO4J_HEAP, page_cache=NEO4J_PAGE_CACHE).start()
        os.environ.update(server.environment())
        print(f"# Neo4j {server.version()}, heap {NEO4J_HEAP}, page cache {NEO4J_PAGE_CACHE}, "
              f"started in {server.started_in_s:.1f} s, same machine")

    def empty(part: str) -> Settings:
        settings = Settings.from_env(data_dir=root / f"neo4j-{part}", graph_backend="neo4j")
        with open_store(settings.graph) as store:
            store.run("delete_all", write=True)
        return settings

    try:
        yield empty
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=6_040)
    parser.add_argument("--items", type=int, default=3_706)
    parser.add_argument("--interactions", type=int, default=1_000_209)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--backends", default="ladybug,neo4j", help="comma-separated: ladybug, neo4j")
    args = parser.parse_args()
    print(f"# graphrec ingest and query benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        source = root / "synthetic-csv"
        write_generic(source, args.users, args.items, args.interactions, args.seed)
        for backend in args.backends.split(","):
            if backend == "ladybug":
                bench_backend("LadybugDB (embedded)", lambda part: Settings.from_env(data_dir=root / part), source,
                              args)
            elif backend == "neo4j":
                with neo4j_settings(root) as settings:
                    bench_backend("Neo4j (Bolt, loopback)", settings, source, args)
            else:
                parser.error(f"unknown backend {backend!r}")


if __name__ == "__main__":
    main()
