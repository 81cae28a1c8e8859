"""RL policies against the strongest non-RL ranker: log replay on MovieLens-100K and on the Taobao excerpt, the
GAN user model and policies trained in the sessions it simulates, and the CTR simulator's bandits.

    python -m benchmarks.policies [--data ../shared/data/movielens-100k] [--seeds 11,12,13,14,15]
                                  [--taobao ../shared/data/taobao-userbehavior-sample] [--gan-seeds 11,...,15]
                                  [--policies greedy,greedy_quality,...,kgdqn] [--out var/policies] [--skip PARTS]
                                  [--ctr-seeds 1,2,3,4,5] [--search] [--search-seed 21]

Log replay: each seed is a new split (fit / tune / test per user), a LightGCN encoder on its fit part, the
baselines (greedy, greedy_quality, greedy_folded, greedy_refit, ease: training/rl/reference_rankers.py) tuned and
each RL policy trained on the training episodes (checkpoints picked on validation users carved from them; each starts as
the tuned blend of best validation return ranks), then all scored once on the held-out episodes
(training/rl/logreplay.py). Prints the table (also OUT/<part>/results.md, results.json, learning_curve.png) with
every row's paired difference to the baseline of best validation return (per-user bootstrap over seeds), each RL
policy's verdict, and the scoring latency of the last seed's checkpoints for 200
candidates (batch of one, one thread, the service's traced scorer). Every (seed, model) is stored under
OUT/<part>/runs as it ends: run the command again to resume. --search first chooses each RL policy's
hyper-parameters by a grid search on split seed --search-seed's validation episodes (training/rl/search.py,
OUT/<part>/search). Each --gan-seeds split trains its own GAN user model without that split's test pairs; its
held-out prec@1/prec@2 is compared with simpler user models (OUT/gan_user_model), and then it is the environment
(training/rl/gan_env.py, 10 slates per session) of the same models (OUT/gan)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graphrec.ingest import movielens, taobao
from graphrec.ingest.frames import Dataset
from graphrec.training.names import Bandit, BaselineRanker
from graphrec.training.paired import mean_interval
from graphrec.training.rl.checkpoint_files import load_policy
from graphrec.training.rl.ctr_bench import TUNING_WORLDS, ctr_results, tune
from graphrec.training.rl.ctr_bench import scoring_latency as bandit_scoring_latency
from graphrec.training.rl.ctr_env import CTRConfig
from graphrec.training.rl.gan_env import UserModel, split_user_model
from graphrec.training.rl.gan_user import compare_user_models
from graphrec.training.rl.logreplay import LogReplayConfig
from graphrec.training.rl.policy_comparison import REPLAY_POLICIES, TRAINERS, evaluate_logreplay, scoring_latency
from graphrec.training.rl.tables import PolicyResult, write_results

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The excerpt is the head of the 100M-row log (815 users): GRAPPLE's filters (>= 20 interactions per user,
# >= 50 per item) would leave almost nothing, so these keep the users and items with some history.
TAOBAO_MIN_ITEM, TAOBAO_MIN_USER = 3, 5
# Every behaviour is a positive signal there (a page view is a click), so every target joins the state; rewards
# are buy 1 > cart 0.6 > fav 0.5 > pv 0.1 (graph.behaviours.BEHAVIOURS).
TAOBAO_REPLAY = LogReplayConfig(positive_reward=0.1)
# Sessions of the GAN user model run 10 slates (the log replay's 5 end where its held-out targets run out): long
# enough that what a slate does to the user's next state matters.
GAN_REPLAY = LogReplayConfig(steps=10)
CTR_USERS = 2_000  # users per world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "movielens-100k")
    parser.add_argument("--taobao", type=Path, default=SHARED_DATA / "taobao-userbehavior-sample")
    # The statistics' protocol, frozen before the deciding runs (issue 34): the tables test on split seeds never
    # used before 2026-12-08 (1-3 were used while the methods and the GAN environment were redesigned with their
    # tables in view); the hyper-parameter search runs on a seed outside them.
    parser.add_argument("--seeds", default="11,12,13,14,15",
                        help="split seeds (each: a split, an encoder, every model)")
    parser.add_argument("--search-seed", type=int, default=21, help="the split seed --search runs on (never a "
                        "test seed)")
    parser.add_argument("--ctr-seeds", default="1,2,3,4,5", help="world seeds of the CTR simulator")
    parser.add_argument("--gan-seeds", default="11,12,13,14,15", help="seeds of the policies in the GAN environment")
    parser.add_argument("--policies", default=",".join(REPLAY_POLICIES))
    parser.add_argument("--out", type=Path, default=Path("var/policies"))
    parser.add_argument("--search", action="store_true", help="choose the RL policies' hyper-parameters by a grid "
                        "search on --search-seed's validation episodes first (OUT/<part>/search)")
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
        config = CTRConfig()
        tuning = tune(config, CTR_USERS)
        print(f"CTR tuning worlds {', '.join(map(str, TUNING_WORLDS))}: LinUCB alpha {tuning.knobs['linucb'].alpha}, "
              f"Thompson prior precision {tuning.knobs['thompson'].prior_precision}, strongest reference "
              f"{tuning.baseline}; mean CTR there: " + ", ".join(f"{k} {v:.4f}" for k, v in tuning.ctr.items()))
        world_seeds = [int(s) for s in args.ctr_seeds.split(",")]
        results = ctr_results(list(Bandit), world_seeds, CTR_USERS, config, tuning)
        write_results(results, None, args.out / "ctr", f"CTR simulator: {CTR_USERS:,} users x "
                      f"{config.steps_per_user} steps per world, world seeds {', '.join(map(str, world_seeds))}")
        print((args.out / "ctr" / "results.md").read_text())
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
                       args.out / "logreplay", None, search_seed=args.search_seed if args.search else None)
    if "taobao" not in skip:
        if not args.taobao.is_dir():
            raise SystemExit(f"{args.taobao} is absent: pass --taobao with the UserBehavior excerpt's folder")
        data = taobao.read(args.taobao, min_item_interactions=TAOBAO_MIN_ITEM, min_user_interactions=TAOBAO_MIN_USER)
        print(f"taobao excerpt: {data.interactions['user_id'].nunique():,} users, "
              f"{data.interactions['item_id'].nunique():,} items, {len(data.interactions):,} events after the "
              f">= {TAOBAO_MIN_ITEM} per item and >= {TAOBAO_MIN_USER} per user filters")
        logreplay_part(data, "taobao-userbehavior-sample", policies, seeds, args.out / "taobao",
                       TAOBAO_REPLAY, search_seed=args.search_seed if args.search else None)
    if not {"gan", "gan-env"} <= skip:
        movies = movielens.read(args.data)
        gan_seeds = [int(s) for s in args.gan_seeds.split(",")]
        user_models = SplitUserModels(movies)
        if "gan" not in skip:
            user_model_part(user_models, gan_seeds, args.out / "gan_user_model")
        if "gan-env" not in skip:
            logreplay_part(movies, "movielens-100k", policies, gan_seeds, args.out / "gan", GAN_REPLAY,
                           user_model=user_models, search_seed=args.search_seed if args.search else None)


class SplitUserModels:
    """The GAN user model of each split seed (training.rl.gan_env.split_user_model), trained once when asked."""

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.models: dict[int, UserModel] = {}

    def __call__(self, seed: int) -> UserModel:
        if seed not in self.models:
            self.models[seed] = split_user_model(self.data.interactions, self.data.items, self.data.triples,
                                                 replace(GAN_REPLAY, split_seed=seed))
            print(f"GAN user model of split seed {seed} trained in {self.models[seed][0].seconds:.0f} s")
        return self.models[seed]


def user_model_part(user_models: SplitUserModels, seeds: list[int], out: Path) -> None:
    """Each split's user models on its held-out display sets (the log replay's test pairs of that split, 10 items
    plus "no click"): prec@1 and prec@2 over the split seeds with bootstrap 95% intervals (display steps
    resampled within each seed), and which checkpoint each GAN kept. Each seed is stored as it ends."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    for seed in seeds:
        path = out / f"seed-{seed}.json"
        if not path.is_file():
            model, display = user_models(seed)
            result = compare_user_models(display, trained=model)
            path.write_text(json.dumps({name: {key: value.tolist() if isinstance(value, np.ndarray) else value
                                               for key, value in values.items()} for name, values in result.items()}))
        figures[seed] = json.loads(path.read_text())
    print(f"user models on held-out display sets (10 items + no click), split seeds {', '.join(map(str, seeds))}:")
    print("| user model | prec@1 | 95% CI | prec@2 | 95% CI | checkpoint kept per seed |\n|---|---|---|---|---|---|")
    for name in figures[seeds[0]]:
        cells = []
        for k in ("hits@1", "hits@2"):
            hits = [np.asarray(figures[s][name][k], dtype=np.float64) for s in seeds]
            level = mean_interval(hits)
            cells.append(f"{level.mean:.4f} | [{level.ci95_low:.4f}, {level.ci95_high:.4f}]")
        kept = ", ".join(str(figures[s][name].get("kept", "")) for s in seeds) if "kept" in figures[seeds[0]][name] \
            else ""
        print(f"| {name} | {cells[0]} | {cells[1]} | {kept} |")
    print(f"user models part {time.perf_counter() - started:.0f} s")


def logreplay_part(data: Dataset, name: str, policies: list[str], seeds: list[int], out: Path,
                   config: LogReplayConfig | None, user_model: Callable[[int], UserModel] | None = None,
                   search_seed: int | None = None) -> None:
    """One dataset's log replay (or, with ``user_model``, its sessions simulated by the GAN user model): the
    table with every row's paired difference to the strongest baseline, and the scoring latency of the last
    seed's checkpoints. Stored (seed, model) runs under ``out``/runs are read back, not run again."""
    started = time.perf_counter()
    if search_seed in seeds:
        raise ValueError(f"--search-seed {search_seed} is also a test seed ({seeds}): search elsewhere")
    configs = search_configs(data, policies, search_seed, out, config, user_model) if search_seed is not None \
        else None
    results, _ = evaluate_logreplay(data.interactions, data.items, data.triples, policies, seeds, out,
                                    config=config, configs=configs, dataset=name, user_model=user_model)
    print((out / "results.md").read_text())
    steps = (config or LogReplayConfig()).steps
    print(f"return per slate over the {steps} slates: " + ", ".join(f"{r.policy} {r.mean_return / steps:.4f}"
                                                                  for r in results))
    report_acceptance(results)
    latency = {path.stem: scoring_latency(load_policy(path))
               for path in sorted((out / "runs" / f"seed-{seeds[-1]}").glob("*.pt"))}
    (out / "latency.json").write_text(json.dumps(latency, indent=2))
    for policy, figures in latency.items():
        print(f"scoring 200 candidates, {policy}: p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms")
    print(f"{'GAN environment' if user_model else 'log replay'} on {name}: {time.perf_counter() - started:.0f} s")


def search_configs(data: Dataset, policies: list[str], seed: int, out: Path, config: LogReplayConfig | None,
                   user_model: Callable[[int], UserModel] | None) -> dict[str, object]:
    """Each RL policy's grid search (training/rl/search.py) on the validation episodes of split seed ``seed``,
    stored under ``out``/search/ (a stored search is read back); the chosen configs."""
    from graphrec.training.rl.gan_env import UserSimulator
    from graphrec.training.rl.logreplay import build_world
    from graphrec.training.rl.policy_comparison import (
        ENCODER_FILE,
        ModelRun,
        load_encoder,
        run_model,
        save_encoder,
        start_blend,
        world_fingerprint,
    )
    from graphrec.training.rl.search import load_search, save_search, search

    config = replace(config or LogReplayConfig(), split_seed=seed)
    chosen: dict[str, object] = {}
    world = None
    folder = out / "runs" / f"seed-{seed}"
    for name in (p for p in policies if p in TRAINERS):
        path = out / "search" / f"{name}.json"
        result = load_search(path)
        if result is None:
            if world is None:
                world = build_world(data.interactions, data.items, data.triples, config, seed=seed,
                                    encoder=load_encoder(folder / ENCODER_FILE))
                save_encoder(folder / ENCODER_FILE, world)
                if user_model is not None:
                    world.simulator = UserSimulator.for_world(*user_model(seed), world)
                # The policies start as the strongest tuned blend ranks, as in the table's runs (stored with them).
                for blend in BaselineRanker:
                    stored = folder / f"{blend}.json"
                    if not stored.is_file() or ModelRun.load(stored).world != world_fingerprint(world):
                        run_model(world, blend, seed, None, folder).save(stored)
            blends = {blend: ModelRun.load(folder / f"{blend}.json") for blend in BaselineRanker}
            result = search(world, name, seed, start=start_blend(blends))
            save_search(result, path)
        print(f"{name}: chosen on validation {result.chosen}; tried " + "; ".join(
            f"{ {k: v for k, v in row.items() if k in result.chosen} } {row['validation_return']:.4f}"
            for row in result.tried))
        chosen[name] = replace(TRAINERS[name][1](), **result.chosen)
    return chosen


def report_acceptance(results: list[PolicyResult]) -> None:
    """Each RL policy against the table's strongest baseline: the paired difference and whether its interval
    lies above 0; and its training time per seed."""
    for r in results:
        if r.policy not in TRAINERS or r.paired_diff is None:
            continue
        verdict = "above 0" if (r.paired_ci95_low or 0) > 0 else "not above 0"
        print(f"{r.policy} minus {r.baseline}: {r.paired_diff:+.4f} [{r.paired_ci95_low:+.4f}, "
              f"{r.paired_ci95_high:+.4f}] ({verdict}); training {r.train_seconds:.0f} s per seed")


if __name__ == "__main__":
    main()
