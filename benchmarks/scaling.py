"""Cost curves: what each part of the pipeline costs as the graph grows from 100k to 10M interactions.

Synthetic graphs shaped like MovieLens-1M at every size: 6,040 users and 3,706 items at 1M interactions, both
scaled by the square root of the interactions, so that the density (4.5%) stays MovieLens-1M's and each user's
history grows with the graph; 18 genres, years, 1,000 artists. Per size, in a fresh process:

  ingest      generic CSV files -> empty LadybugDB graph, rows/s end to end (and Neo4j up to --neo4j-max)
  export      graph -> the training frames (training.train_data.graph_frames)
  epoch       LightGCN (graphrec train's configuration): mean seconds of --batches mini-batches x batches per
              epoch (the full epoch is measured too up to --full-epoch-max interactions)
  index       FAISS index of the item embeddings (`auto`: exact up to 50,000 items)
  candidates  KG candidates (store.candidates, top 100) p99 over 100 users; explanation (k=3) p99
  recommend   POST /v1/recommend p99 at --rate requests/s for --seconds against `graphrec serve`, over 500
              users whose candidates were cached first (steady use; the candidate query's own cost is the
              candidates column); a BPR-MF version trained for one epoch: serving costs do not depend on the
              encoder
  peak RSS    of the process that ingests, exports and trains

    python -m benchmarks.scaling [--sizes 100000,1000000,3000000,10000000] [--out var/scaling]

Writes OUT/scaling.md, OUT/scaling.json and OUT/scaling.png (log-log, each cost against interactions); a size
whose OUT/size-N.json exists is read back, not run again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

USERS_AT_1M, ITEMS_AT_1M = 6_040, 3_706
USERS_ASKED = 500  # the users the recommend phase asks for, each cached first
COLUMNS = (("ingest_rows_per_s", "ingest rows/s"), ("neo4j_ingest_rows_per_s", "Neo4j ingest rows/s"),
           ("export_s", "export s"), ("epoch_s", "s/epoch"), ("index_s", "index s"),
           ("candidates_p99_ms", "candidates p99 ms"), ("explain_p99_ms", "explain p99 ms"),
           ("recommend_p99_ms", "recommend p99 ms"), ("peak_rss_gb", "peak RSS GB"))


def shape(interactions: int) -> tuple[int, int]:
    scale = math.sqrt(interactions / 1_000_000)
    return round(USERS_AT_1M * scale), round(ITEMS_AT_1M * scale)


def p99(samples: list[float]) -> float:
    return float(np.percentile(samples, 99))


def lightgcn_epoch(root: Path, batches: int, full_epoch: bool) -> dict[str, float]:
    """Seconds per LightGCN epoch from ``batches`` timed mini-batches (and a whole epoch when asked)."""
    import torch

    from graphrec.training.bpr import BPRLoss, KnownPairs, fit_bpr, sample_negatives
    from graphrec.training.models.lightgcn import LightGCN
    from graphrec.training.snapshot import read_snapshot
    from graphrec.training.train_data import build_catalogue, train_data

    interactions, items, triples = read_snapshot(root / "snapshot")
    train = train_data(build_catalogue(interactions, items, triples), interactions)
    model = LightGCN(**LightGCN.grid[0])
    config = model.config.model_copy(update={"epochs": 1})
    encoder = model.build(train, config)
    step = BPRLoss(encoder, config.l2)
    optimiser = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    known, rng = KnownPairs(train.users, train.items, train.n_items), np.random.default_rng(0)
    per_epoch = math.ceil(len(train.users) / config.batch_size)
    timings = []
    for _ in range(min(batches, per_epoch) + 1):  # the first batch warms up and is not counted
        started = time.perf_counter()
        batch = rng.integers(0, len(train.users), config.batch_size)
        negatives = sample_negatives(rng, train.users[batch], train.n_items, known)
        loss = step(*(torch.from_numpy(c) for c in (train.users[batch], train.items[batch], negatives)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        timings.append(time.perf_counter() - started)
    figures = {"epoch_s": float(np.mean(timings[1:])) * per_epoch, "batches_per_epoch": per_epoch,
               "batch_size": config.batch_size}
    if full_epoch:
        figures["measured_epoch_s"] = fit_bpr(model.build(train, config), train, config, None).seconds
    return figures


def serve_and_load(root: Path, rate: float, seconds: float) -> dict[str, float]:
    """Train a one-epoch BPR-MF version, index and publish it, then recommend p99 at ``rate`` over HTTP."""
    import aiohttp

    from benchmarks.loadgen import CLIENT_HEADERS, Samples, open_loop, recommend_call
    from benchmarks.serving import Service
    from graphrec.serving.state.embedded_redis import EmbeddedRedis
    from graphrec.settings import Settings
    from graphrec.training.artifacts import publish
    from graphrec.training.pipeline import index_version, train_from_frames
    from graphrec.training.snapshot import read_snapshot

    settings = Settings.from_env(data_dir=root)
    interactions, items, triples = read_snapshot(root / "snapshot")
    folder = train_from_frames(interactions, items, triples, settings.artifacts_dir, "bpr", {"epochs": 1})
    index = index_version(folder)
    publish(settings.artifacts_dir, folder.name)
    users = interactions["user_id"].drop_duplicates().sample(n=USERS_ASKED, random_state=0).tolist()
    bench_redis = EmbeddedRedis(root / "bench-redis").start()
    service = Service(root, bench_redis.url, root / "service.log", warm=False)

    async def run() -> dict[str, float]:
        async with aiohttp.ClientSession(headers=CLIENT_HEADERS, timeout=aiohttp.ClientTimeout(total=30)) as session:
            await service.ready(session)
            for user in users:  # each user once, one at a time: their candidates are then cached, as in steady use
                async with session.post(f"{service.url}/v1/recommend", json={"user_id": user, "k": 10}) as answer:
                    answer.raise_for_status()
                    await answer.read()
            samples = Samples()
            await open_loop(session, samples, "recommend", rate, seconds, recommend_call(service.url, users),
                            time.perf_counter())
            row = samples.report(f"recommend at {rate:g}/s for {seconds:g} s", seconds)["recommend"]
            return {"recommend_p99_ms": row["p99"], "recommend_errors": row["errors"]}

    try:
        return {**asyncio.run(run()), "index_s": index["seconds"], "index_kind": index["kind"]}
    finally:
        service.stop()
        bench_redis.stop()


def one_size(interactions: int, args: argparse.Namespace) -> dict:
    from benchmarks.ingest_and_query import neo4j_settings, timed, write_generic
    from graphrec.graph.explain import explain
    from graphrec.graph.factory import open_store
    from graphrec.ingest import generic
    from graphrec.ingest.loader import ingest
    from graphrec.settings import Settings
    from graphrec.training.snapshot import FRAMES
    from graphrec.training.train_data import graph_frames

    users, items = shape(interactions)
    root = args.scratch / f"size-{interactions}"
    shutil.rmtree(root, ignore_errors=True)
    source = root / "csv"
    write_generic(source, users, items, interactions, seed=42)
    row: dict = {"interactions": interactions, "users": users, "items": items}
    with open_store(Settings.from_env(data_dir=root).graph) as store:
        report = ingest(store, lambda: generic.read(source), show_progress=False)
        row |= {"ingest_rows": report.rows_read, "ingest_s": report.seconds,
                "ingest_rows_per_s": report.rows_per_second}
        started = time.perf_counter()
        frames = graph_frames(store)
        row["export_s"] = time.perf_counter() - started
        (root / "snapshot").mkdir()
        for name, frame in zip(FRAMES, frames, strict=True):
            frame.to_parquet(root / "snapshot" / f"{name}.parquet", index=False)
        rng = np.random.default_rng(0)
        sample = rng.choice(frames[0]["user_id"].unique(), size=100, replace=False).tolist()
        store.candidates(sample[0])
        row["candidates_p99_ms"] = p99([timed(lambda u=u: store.candidates(u, limit=100)) for u in sample])
        pairs = [(u, top[0]) for u in sample if len(top := store.candidates(u, limit=10)["item_id"].tolist())]
        row["explain_p99_ms"] = p99([timed(lambda u=u, i=i: explain(store, u, i, k=3)) for u, i in pairs])
    del frames
    if "neo4j" in args.backends and interactions <= args.neo4j_max:
        with neo4j_settings(root / "neo4j-home") as empty, open_store(empty("scaling").graph) as store:
            neo4j = ingest(store, lambda: generic.read(source), show_progress=False)
            row["neo4j_ingest_rows_per_s"] = neo4j.rows_per_second
    row |= lightgcn_epoch(root, args.batches, interactions <= args.full_epoch_max)
    row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    row |= serve_and_load(root, args.rate, args.seconds)
    shutil.rmtree(root, ignore_errors=True)
    return row


def growth_note(rows: list[dict], key: str) -> str:
    """The log-log slope of a cost between the smallest and the largest size (1 = linear); for a rate, the slope
    of the time it takes (1 minus the rate's slope)."""
    points = [(r["interactions"], r[key]) for r in rows if r.get(key)]
    if len(points) < 2:
        return ""
    (x0, y0), (x1, y1) = points[0], points[-1]
    slope = math.log(y1 / y0) / math.log(x1 / x0)
    return f"{1 - slope:+.2f}" if key.endswith("rows_per_s") else f"{slope:+.2f}"


def write_outputs(rows: list[dict], out: Path, header: str) -> None:
    present = [(key, title) for key, title in COLUMNS if any(key in r for r in rows)]
    lines = [header, "", "| interactions | users | items | " + " | ".join(t for _, t in present) + " |",
             "|---" * (3 + len(present)) + "|"]
    for r in rows:
        cells = ["" if key not in r else f"{r[key]:,.0f}" if key.endswith("rows_per_s") else f"{r[key]:.2f}"
                 for key, _ in present]
        lines.append(f"| {r['interactions']:,} | {r['users']:,} | {r['items']:,} | " + " | ".join(cells) + " |")
    lines += ["", "Log-log slope from the smallest to the largest size of each cost (for the rates, of the time taken; "
              "1 = linear in interactions):", "",
              "| " + " | ".join(t for _, t in present) + " |", "|---" * len(present) + "|",
              "| " + " | ".join(growth_note(rows, key) for key, _ in present) + " |"]
    (out / "scaling.md").write_text("\n".join(lines) + "\n")
    (out / "scaling.json").write_text(json.dumps(rows, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    x = [r["interactions"] for r in rows]
    for key, title in present:
        values = [r.get(key) for r in rows]
        if key.endswith("rows_per_s"):  # a cost, not a rate: seconds per million rows
            values = [1e6 / v if v else None for v in values]
            title = title.replace("rows/s", "s per 1M rows")
        points = [(a, b) for a, b in zip(x, values, strict=True) if b]
        if len(points) > 1:
            axis.loglog(*zip(*points, strict=True), marker="o", label=title)
    axis.loglog(x, [v / x[0] for v in x], linestyle=":", color="grey", label="linear (slope 1)")
    axis.set_xlabel("interactions")
    axis.set_ylabel("cost (own unit)")
    axis.legend(fontsize=7)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "scaling.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,3000000,10000000")
    parser.add_argument("--out", type=Path, default=Path("var/scaling"))
    parser.add_argument("--scratch", type=Path, default=None, help="working folder (default: OUT/scratch)")
    parser.add_argument("--backends", default="ladybug,neo4j")
    parser.add_argument("--neo4j-max", type=int, default=1_000_000, help="largest size ingested into Neo4j")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--full-epoch-max", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.scratch = (args.scratch or args.out / "scratch").resolve()
    if args.one is not None:
        print(json.dumps(one_size(args.one, args)), flush=True)
        return
    header = (f"# scaling, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
              "synthetic MovieLens-1M-shaped graphs")
    print(header)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        stored = args.out / f"size-{size}.json"
        if not stored.is_file():
            started = time.perf_counter()
            command = [sys.executable, "-m", "benchmarks.scaling", "--one", str(size), *sys.argv[1:]]
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["wall_s"] = time.perf_counter() - started
            stored.write_text(json.dumps(row, indent=2))
        rows.append(json.loads(stored.read_text()))
        print(json.dumps(rows[-1]), flush=True)
    write_outputs(rows, args.out, header)
    print((args.out / "scaling.md").read_text())


if __name__ == "__main__":
    main()
