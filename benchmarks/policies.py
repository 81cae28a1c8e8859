"""RL policies against greedy: log replay on MovieLens-100K and on the Taobao excerpt, the GAN user model and
policies trained in the sessions it simulates, and the CTR simulator's bandits.

    python -m benchmarks.policies [--data ../shared/data/movielens-100k] [--seeds 1,2,3,4,5]
                                  [--taobao ../shared/data/taobao-userbehavior-sample] [--gan-seeds 1,2,3]
                                  [--policies greedy,drr,ppo,kgdqn] [--out var/policies] [--skip PARTS]

Log replay: each seed trains a LightGCN encoder on the fit part and each policy on the training episodes
(checkpoints picked on validation users carved from them), then scores the held-out episodes once
(training/rl/logreplay.py). Prints the table (also OUT/<part>/results.md, results.json,
learning_curve.png), the acceptance checks, training time per policy and the scoring latency of each
trained policy for 200 candidates (batch of one, one thread, the service's traced scorer). The GAN user
model is trained once; its held-out prec@1/prec@2 is compared with two simple user models, and then it is
the environment (training/rl/gan_env.py) of the same policies over --gan-seeds (OUT/gan).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graphrec.ingest import movielens, taobao
from graphrec.ingest.frames import Dataset
from graphrec.training.rl.ctr_bench import scoring_latency as bandit_scoring_latency
from graphrec.training.rl.ctr_env import CTRConfig
from graphrec.training.rl.evaluate import (
    PolicyResult,
    confidence_interval,
    ctr_results,
    evaluate_logreplay,
    scoring_latency,
    write_results,
)
from graphrec.training.rl.gan_env import UserModel, fit_user_model
from graphrec.training.rl.gan_user import compare_user_models
from graphrec.training.rl.logreplay import LogReplayConfig

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The excerpt is the head of the 100M-row log (815 users): GRAPPLE's filters (>= 20 interactions per user,
# >= 50 per item) would leave almost nothing, so these keep the users and items with some history.
TAOBAO_MIN_ITEM, TAOBAO_MIN_USER = 3, 5
# Every behaviour is a positive signal there (a page view is a click), so every target joins the state; rewards
# are buy 1 > cart 0.6 > fav 0.5 > pv 0.1 (graph.behaviours.BEHAVIOUR_REWARDS).
TAOBAO_REPLAY = LogReplayConfig(positive_reward=0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "movielens-100k")
    parser.add_argument("--taobao", type=Path, default=SHARED_DATA / "taobao-userbehavior-sample")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--gan-seeds", default="1,2,3", help="seeds of the policies in the GAN environment")
    parser.add_argument("--policies", default="greedy,drr,ppo,kgdqn")
    parser.add_argument("--out", type=Path, default=Path("var/policies"))
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: ctr, logreplay, taobao, "
                        "gan (the user models), gan-env (policies in it)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seeds = [int(s) for s in args.seeds.split(",")]
    policies = args.policies.split(",")
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"# policy benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores")
    if "ctr" not in skip:
        started = time.perf_counter()
        results = ctr_results(["linucb", "thompson", "organic_count", "popularity", "random"], [1, 2, 3])
        write_results(results, None, args.out / "ctr", "CTR simulator: 2,000 users x 10 steps, 3 seeds")
        print((args.out / "ctr" / "results.md").read_text())
        # Paired over seeds (the same users in the same world): each learner against showing what they browse.
        by_policy = {r.policy: np.array(r.per_seed_return) for r in results}
        for policy in ("linucb", "thompson"):
            clicks = (by_policy[policy] - by_policy["organic_count"]) / CTRConfig().steps_per_user
            mean, low, high = confidence_interval(clicks)
            print(f"{policy} minus organic_count, CTR paired over seeds: {mean:+.4f} [{low:+.4f}, {high:+.4f}]")
        # The simulator's context (10 products), then one as wide as the candidates (200 products).
        for policy in ("linucb", "thompson"):
            for products in (10, 200):
                figures = bandit_scoring_latency(policy, products=products)
                print(f"scoring 200 candidates, {policy}, context of {products + 1} features: "
                      f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms")
        print(f"ctr part {time.perf_counter() - started:.0f} s")
    if "logreplay" not in skip:
        if not args.data.is_dir():
            raise SystemExit(f"{args.data} is absent: pass --data with the MovieLens-100K folder")
        logreplay_part(movielens.read(args.data), "movielens-100k", policies, seeds,
                       args.out / "logreplay", None)
    if "taobao" not in skip:
        if not args.taobao.is_dir():
            raise SystemExit(f"{args.taobao} is absent: pass --taobao with the UserBehavior excerpt's folder")
        data = taobao.read(args.taobao, min_item_interactions=TAOBAO_MIN_ITEM, min_user_interactions=TAOBAO_MIN_USER)
        print(f"taobao excerpt: {data.interactions['user_id'].nunique():,} users, "
              f"{data.interactions['item_id'].nunique():,} items, {len(data.interactions):,} events after the "
              f">= {TAOBAO_MIN_ITEM} per item and >= {TAOBAO_MIN_USER} per user filters")
        logreplay_part(data, "taobao-userbehavior-sample", policies, seeds, args.out / "taobao",
                       TAOBAO_REPLAY)
    if not {"gan", "gan-env"} <= skip:
        started = time.perf_counter()
        movies = movielens.read(args.data)
        user_model, display = fit_user_model(movies.interactions, movies.items, movies.triples)
        print(f"GAN user model trained in {user_model.seconds:.0f} s")
        if "gan" not in skip:
            figures = compare_user_models(display, trained=user_model)
            (args.out / "gan_user_model.json").write_text(json.dumps(figures, indent=2))
            print("user models on held-out display sets (10 items + no click):")
            for name, values in figures.items():
                print(f"  {name}: prec@1 {values['prec@1']:.4f}, prec@2 {values['prec@2']:.4f}")
            print(f"GAN checkpoint kept (best validation prec@1): {figures['gan']['kept']}")
            print(f"user models part {time.perf_counter() - started:.0f} s")
        if "gan-env" not in skip:
            gan_seeds = [int(s) for s in args.gan_seeds.split(",")]
            logreplay_part(movies, "movielens-100k", policies, gan_seeds, args.out / "gan",
                           None, user_model=(user_model, display))


def logreplay_part(data: Dataset, name: str, policies: list[str], seeds: list[int], out: Path,
                   config: LogReplayConfig | None, user_model: UserModel | None = None) -> None:
    """One dataset's log replay (or, with ``user_model``, its sessions simulated by the GAN user model): the
    table, the acceptance checks and the trained policies' scoring latency."""
    started = time.perf_counter()
    results, runs = evaluate_logreplay(data.interactions, data.items, data.triples, policies, seeds, out,
                                       config=config, dataset=name, user_model=user_model)
    print((out / "results.md").read_text())
    report_acceptance(results)
    last = runs[-1]
    latency = {policy: scoring_latency(trained.policy, last.world) for policy, trained in last.trained.items()}
    (out / "latency.json").write_text(json.dumps(latency, indent=2))
    for policy, figures in latency.items():
        print(f"scoring 200 candidates, {policy}: p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms")
    print(f"{'GAN environment' if user_model else 'log replay'} on {name}: {time.perf_counter() - started:.0f} s")


def report_acceptance(results: list[PolicyResult]) -> None:
    by_name = {r.policy: r for r in results}
    greedy = by_name.get("greedy")
    if greedy is None:
        return
    for r in results:
        if r.policy == "greedy":
            continue
        if len(r.seeds) < 2:  # one seed has no interval to compare
            verdict = "one seed, no confidence interval"
        else:
            verdict = "CIs do not overlap" if r.ci95_low > greedy.ci95_high else "CIs overlap"
        ndcg_change = (r.ndcg_at_10 - greedy.ndcg_at_10) / greedy.ndcg_at_10
        print(f"{r.policy}: return {r.mean_return:.4f} vs greedy {greedy.mean_return:.4f} "
              f"({verdict}); NDCG@10 {ndcg_change:+.1%} vs greedy; training {r.train_seconds:.0f} s per seed")


if __name__ == "__main__":
    main()
