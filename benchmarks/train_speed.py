"""Training and index speed.

1. LightGCN in `graphrec train`'s configuration (LightGCN.grid[0]) on a synthetic graph shaped like
   MovieLens-1M (6,040 users, 3,706 items, 1,000,209 interactions): seconds per epoch and peak memory.
2. Time to quality on MovieLens-100K (the Microsoft Recommenders split, per --seeds): the early-stopped fit on
   the fitting part (to the best validation epoch, and to the stop), the refit on the whole training part for
   the best epoch count, and the refit's test NDCG@10.
3. FAISS over 1,000,000 synthetic item vectors (64 dimensions, drawn around 10,000 centres like trained
   embeddings): build time, single-query latency p50/p99, batch throughput, recall@10 against exact search
   and bytes per item, for IVF and IVF-PQ (and HNSW with --hnsw).

    python -m benchmarks.train_speed [--epochs 3] [--items 1000000] [--queries 1000] [--seeds 42]
                                     [--kinds ivf,ivfpq] [--hnsw] [--skip-lightgcn] [--skip-faiss]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from graphrec.ingest.synthetic import generate
from graphrec.training.bpr import fit_bpr
from graphrec.training.index import build_index, gpu_count, recall_at_k, search
from graphrec.training.models.lightgcn import LightGCN
from graphrec.training.train_data import build_catalogue, train_data


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def lightgcn_speed(epochs: int) -> None:
    data = generate(users=6_040, items=3_706, interactions=1_000_209, seed=42, artists=1_000)
    catalogue = build_catalogue(data.interactions, data.items, data.triples)
    train = train_data(catalogue, data.interactions)
    model = LightGCN(**LightGCN.grid[0])
    config = model.config.model_copy(update={"epochs": epochs})
    encoder = model.build(train, config)
    history = fit_bpr(encoder, train, config, None, "lightgcn")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu_peak = f", GPU peak {torch.cuda.max_memory_allocated() / 1024**3:.2f} GB" if device == "cuda" else ""
    print(f"LightGCN {LightGCN.grid[0]} on 1,000,209 interactions ({device}): {history.seconds / epochs:.1f} "
          f"s/epoch over {epochs} epochs, final loss {history.losses[-1]:.4f}, peak RSS {peak_rss_gb():.2f} GB"
          f"{gpu_peak}")


def time_to_quality(seeds: list[int]) -> None:
    """LightGCN's default configuration on MovieLens-100K splits: the early-stopped fit, the refit, test NDCG."""
    from graphrec.ingest import movielens
    from graphrec.training.evaluate import prepare, test_result
    from graphrec.training.splits import make_split

    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k"
    if not folder.is_dir():
        print(f"MovieLens-100K time to quality: skipped ({folder} absent)")
        return
    data = movielens.read(folder)
    rows = []
    for seed in seeds:
        split = prepare(make_split(data.interactions, "ms", seed=seed), data.items, data.triples)
        tuned = LightGCN(**LightGCN.grid[0], seed=seed)
        tuned.fit(split.fit, split.valid)
        history = tuned.history
        to_best = history.epoch_seconds[history.best_epoch - 1] if getattr(history, "epoch_seconds", None) else None
        final = LightGCN(**tuned.tuned_config())
        final.fit(split.train, None)
        ndcg = test_result("lightgcn", final, split, 10)[0].metrics["ndcg@10"]
        rows.append((history.seconds, final.history.seconds, ndcg))
        best = f"{to_best:.1f} s to the best epoch, " if to_best is not None else ""
        print(f"MovieLens-100K split {seed}: early-stopped fit {history.seconds:.1f} s ({best}best epoch "
              f"{history.best_epoch} of {history.epochs_run}, valid NDCG@10 {history.best_ndcg:.4f}), refit "
              f"{final.history.seconds:.1f} s, test NDCG@10 {ndcg:.4f}", flush=True)
    fit, refit, ndcg = (float(np.mean(column)) for column in zip(*rows, strict=True))
    print(f"MovieLens-100K mean over {len(rows)} splits: early-stopped fit {fit:.1f} s, refit {refit:.1f} s, "
          f"test NDCG@10 {ndcg:.4f}")


def faiss_speed(n_items: int, n_queries: int, kinds: tuple[str, ...], dim: int = 64) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10_000, dim)).astype(np.float32)
    items = centres[rng.integers(0, len(centres), n_items)] + 0.3 * rng.normal(size=(n_items, dim)).astype(
        np.float32)
    queries = centres[rng.integers(0, len(centres), n_queries)] + 0.3 * rng.normal(size=(n_queries, dim)).astype(
        np.float32)
    exact, info = build_index(items, "flat")
    started = time.perf_counter()
    _, truth = search(exact, queries, 10)
    exact_qps = n_queries / (time.perf_counter() - started)
    print(f"FAISS flat (exact) {n_items:,} x {dim}: build {info.seconds:.1f} s, batch {exact_qps:,.0f} queries/s "
          f"({'GPU' if info.gpu else 'CPU'}, {gpu_count()} GPUs seen)")
    for kind in kinds:
        index, info = build_index(items, kind)  # type: ignore[arg-type]
        started = time.perf_counter()
        _, found = search(index, queries, 10)
        batch_qps = n_queries / (time.perf_counter() - started)
        single = []
        for row in range(min(n_queries, 300)):
            tick = time.perf_counter()
            search(index, queries[row:row + 1], 10)
            single.append((time.perf_counter() - tick) * 1_000)
        # The service scores FAISS's candidates with the exact vectors: recall@10 once its top 100 are rescored.
        _, wide = search(index, queries, 100)
        rescored = np.take_along_axis(wide, np.argsort(-np.einsum("qd,qkd->qk", queries, items[wide]), axis=1)[
            :, :10], axis=1)
        detail = f"nlist {info.nlist}, nprobe {info.nprobe}" if kind != "hnsw" else "M 32, efSearch 256"
        print(f"FAISS {kind} ({detail}): build {info.seconds:.1f} s, recall@10 {recall_at_k(found, truth):.4f} "
              f"({recall_at_k(rescored, truth):.4f} once its top 100 are rescored exactly), "
              f"single query p50 {np.percentile(single, 50):.2f} ms p99 {np.percentile(single, 99):.2f} ms, "
              f"batch {batch_qps:,.0f} queries/s, {getattr(info, 'bytes_per_item', 0)} bytes per item "
              f"(flat: {4 * dim})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--skip-lightgcn", action="store_true")
    parser.add_argument("--seeds", default="42", help="MovieLens-100K split seeds for time to quality ('' skips)")
    parser.add_argument("--skip-faiss", action="store_true")
    parser.add_argument("--kinds", default="ivf,ivfpq", help="approximate FAISS indexes to compare with exact")
    parser.add_argument("--hnsw", action="store_true", help="also build HNSW (about 10 minutes at 1M on 2 cores)")
    args = parser.parse_args()
    print(f"# training and index speed, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{__import__('os').cpu_count()} cores, torch {torch.__version__}")
    if not args.skip_lightgcn:
        lightgcn_speed(args.epochs)
    if args.seeds:
        time_to_quality([int(s) for s in args.seeds.split(",")])
    if not args.skip_faiss:
        kinds = tuple(args.kinds.split(",")) + (("hnsw",) if args.hnsw else ())
        faiss_speed(args.items, args.queries, kinds)


if __name__ == "__main__":
    main()
