"""RL policies against greedy: MovieLens-100K log replay, the CTR simulator's bandits, the GAN user model.

    python benchmarks/policies.py [--data ../shared/data/movielens-100k] [--seeds 1,2,3,4,5]
                                  [--policies greedy,drr,ppo,kgdqn] [--out var/policies]

Log replay: each seed trains a LightGCN encoder on the fit part and each policy on the training episodes
(checkpoints picked on validation users carved from them), then scores the held-out episodes once
(training/rl/logreplay.py). Prints the table (also OUT/logreplay/results.md, results.json,
learning_curve.png), the acceptance checks, training time per policy and the scoring latency of each
trained policy for 200 candidates (batch of one, one thread).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, beside a same-named module

from ingest import movielens
from training.rl.evaluate import PolicyResult, ctr_results, evaluate_logreplay, scoring_latency, write_results
from training.rl.gan_user import build_display_data, compare_user_models

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--policies", default="greedy,drr,ppo,kgdqn")
    parser.add_argument("--out", type=Path, default=Path("var/policies"))
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: ctr, logreplay, gan")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seeds = [int(s) for s in args.seeds.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    print(f"# policy benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores")
    if "ctr" not in skip:
        started = time.perf_counter()
        results = ctr_results(["linucb", "thompson", "popularity", "random"], [1, 2, 3])
        write_results(results, None, args.out / "ctr", "CTR simulator: 2,000 users x 10 steps, 3 seeds")
        print((args.out / "ctr" / "results.md").read_text())
        print(f"ctr part {time.perf_counter() - started:.0f} s")
    if "logreplay" not in skip:
        if not args.data.is_dir():
            raise SystemExit(f"{args.data} is absent: pass --data with the MovieLens-100K folder")
        data = movielens.read(args.data)
        started = time.perf_counter()
        results, runs = evaluate_logreplay(data.interactions, data.items, data.triples,
                                           args.policies.split(","), seeds, args.out / "logreplay",
                                           dataset="movielens-100k")
        print((args.out / "logreplay" / "results.md").read_text())
        report_acceptance(results)
        last = runs[-1]
        latency = {name: scoring_latency(trained.policy, last.world) for name, trained in last.trained.items()}
        (args.out / "logreplay" / "latency.json").write_text(json.dumps(latency, indent=2))
        for name, figures in latency.items():
            print(f"scoring 200 candidates, {name}: p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms")
        print(f"log replay part {time.perf_counter() - started:.0f} s")
    if "gan" not in skip:
        started = time.perf_counter()
        data = build_display_data(*(lambda d: (d.interactions, d.items, d.triples))(movielens.read(args.data)))
        figures = compare_user_models(data)
        (args.out / "gan_user_model.json").write_text(json.dumps(figures, indent=2))
        print("user models on held-out display sets (10 items + no click):")
        for name, values in figures.items():
            print(f"  {name}: prec@1 {values['prec@1']:.4f}, prec@2 {values['prec@2']:.4f}")
        print(f"GAN user model trained in {figures['gan']['train_seconds']:.0f} s; "
              f"part {time.perf_counter() - started:.0f} s")


def report_acceptance(results: list[PolicyResult]) -> None:
    by_name = {r.policy: r for r in results}
    greedy = by_name.get("greedy")
    if greedy is None:
        return
    for r in results:
        if r.policy == "greedy":
            continue
        separated = r.ci95_low > greedy.ci95_high
        ndcg_change = (r.ndcg_at_10 - greedy.ndcg_at_10) / greedy.ndcg_at_10
        print(f"{r.policy}: return {r.mean_return:.4f} vs greedy {greedy.mean_return:.4f} "
              f"({'CIs do not overlap' if separated else 'CIs overlap'}); NDCG@10 {ndcg_change:+.1%} vs greedy; "
              f"training {r.train_seconds:.0f} s per seed")


if __name__ == "__main__":
    main()
