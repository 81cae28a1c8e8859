"""Ranking quality, Microsoft Recommenders protocol (stratified 75/25 per user, k = 10): every model tuned on
validation carved from train, refit, scored once on test, beside the published anchors.

    python -m benchmarks.quality [--dataset movielens-100k | movielens-latest-small | taobao-userbehavior-sample]
                                 [--data FOLDER] [--out var/quality] [--quick] [--stratify user|item]
                                 [--models all] [--seeds 42 | --seeds 1,2,3,4,5]

Datasets (../shared/data): MovieLens-100K (KG: genres, years); ml-latest-small (KG: genres, years and users'
tags); the Taobao UserBehavior excerpt (KG: categories), every behaviour a positive, filtered to items with
>= 3 and users with >= 5 interactions as the policy benchmark filters it.

One seed: prints the results table (also written to OUT/results.md, results.json, results.png) and the long-tail
comparison: recall@20 on test interactions whose item has <= 5 training interactions. Several seeds: each seed's
run under OUT/seed-<seed>/ (a model a seed already scored is read back), then per model NDCG@10 over the seeds
with its bootstrap 95% interval, the paired differences to EASE and to kgease, and the cold-item recall with
its paired difference to LightGCN (OUT/seeds.md, seeds.json).
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from graphrec.ingest import movielens
from graphrec.training.evaluate import run
from graphrec.training.models.registry import MODELS
from graphrec.training.names import BLEND
from graphrec.training.quality_seeds import run_seeds

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = ("movielens-100k", "movielens-latest-small", "taobao-userbehavior-sample")


def read_dataset(name: str, folder: Path):  # type: ignore[no-untyped-def]
    from benchmarks.policies import TAOBAO_MIN_ITEM, TAOBAO_MIN_USER
    from graphrec.ingest import taobao

    if name.startswith("taobao"):
        return taobao.read(folder, min_item_interactions=TAOBAO_MIN_ITEM, min_user_interactions=TAOBAO_MIN_USER)
    return movielens.read(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default=DATASETS[0])
    parser.add_argument("--data", type=Path, default=None, help="the dataset's folder (default: ../shared/data/NAME)")
    parser.add_argument("--out", type=Path, default=Path("var/quality"))
    parser.add_argument("--models", default="all")
    parser.add_argument("--stratify", choices=["user", "item"], default="user")
    parser.add_argument("--quick", action="store_true", help="default configurations only")
    parser.add_argument("--seeds", default="42", help="comma-separated split seeds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.data = args.data or SHARED_DATA / args.dataset
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} is absent: pass --data with the {args.dataset} folder")
    models = [*MODELS, BLEND] if args.models == "all" else args.models.split(",")
    print(f"# quality benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{__import__('os').cpu_count()} cores")
    started = time.perf_counter()
    data = read_dataset(args.dataset, args.data)
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) > 1:
        run_seeds(data.interactions, data.items, data.triples, dataset=args.dataset, protocol="ms",
                  models=models, out=args.out, seeds=seeds, stratify=args.stratify, quick=args.quick)
        print((args.out / "seeds.md").read_text())
        print(f"total {time.perf_counter() - started:.0f} s")
        return
    results = run(data.interactions, data.items, data.triples, dataset=args.dataset, protocol="ms",
                  models=models, out=args.out, seed=seeds[0], stratify=args.stratify, quick=args.quick)
    print((args.out / "results.md").read_text())
    by_name = {r.model: r for r in results}
    if "kgcn" in by_name and "lightgcn" in by_name:
        kg, light = by_name["kgcn"].metrics["cold_recall@20"], by_name["lightgcn"].metrics["cold_recall@20"]
        print(f"long tail (items with <= 5 training interactions): recall@20 kgcn {kg:.4f}, lightgcn {light:.4f}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
