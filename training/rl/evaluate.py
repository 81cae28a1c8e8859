"""Policies against greedy over several seeds: the table (markdown and results.json) and the learning curves.

Each seed trains its own encoder (a new world) and every policy on it; the held-out figures of a policy are
averaged over seeds with a t-based 95% confidence interval of the mean (n - 1 degrees of freedom).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from graphrec.training.names import RankingPolicy
from graphrec.training.rl.checkpoints import TrainedPolicy
from graphrec.training.rl.drr import DRRConfig, train_drr
from graphrec.training.rl.kgdqn import KGDQNConfig, train_kgdqn
from graphrec.training.rl.logreplay import ReplayWorld
from graphrec.training.rl.ppo import PPOConfig, train_ppo
from graphrec.training.rl.rollout import EpisodeStats, greedy_scores, policy_scores, run_episodes

if TYPE_CHECKING:
    from graphrec.training.rl.gan_env import UserModel

log = logging.getLogger(__name__)

TRAINERS: dict[str, tuple[Callable[[ReplayWorld, Any], TrainedPolicy], type]] = {
    RankingPolicy.drr: (train_drr, DRRConfig), RankingPolicy.ppo: (train_ppo, PPOConfig),
    RankingPolicy.kgdqn: (train_kgdqn, KGDQNConfig)}
REPLAY_POLICIES = ("greedy", *TRAINERS)


def confidence_interval(values: list[float] | np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): the t-based 95% interval of the mean; a single value has no width."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float(values.mean()), float(values.mean()), float(values.mean())
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(values.mean() - half), float(values.mean() + half)


@dataclass
class PolicyResult:
    """One row of the table: the keys results.json promises, plus the per-seed values."""

    policy: str
    env: str
    mean_return: float
    ci95_low: float
    ci95_high: float
    ndcg_at_10: float | None
    precision_at_10: float | None
    ctr: float
    seeds: list[int] = field(default_factory=list)
    per_seed_return: list[float] = field(default_factory=list)
    train_seconds: float = 0.0  # mean over seeds

    @classmethod
    def from_seeds(cls, policy: str, env: str, seeds: list[int], runs: list[EpisodeStats],
                   seconds: list[float]) -> PolicyResult:
        mean, low, high = confidence_interval([r.mean_return for r in runs])
        return cls(policy, env, mean, low, high, float(np.mean([r.ndcg_at_10 for r in runs])),
                   float(np.mean([r.precision_at_10 for r in runs])), float(np.mean([r.ctr for r in runs])),
                   seeds, [r.mean_return for r in runs], float(np.mean(seconds)))


@dataclass
class SeedRun:
    """What one seed produced: held-out stats and learning curves per policy, and the trained policies."""

    seed: int
    stats: dict[str, EpisodeStats]
    curves: dict[str, list[tuple[int, float]]]
    trained: dict[str, TrainedPolicy]
    seconds: dict[str, float]
    world: ReplayWorld | None = None  # what the policies were trained and scored in (latency probes use it)


def run_seed(world: ReplayWorld, seed: int, policies: list[str], configs: dict[str, Any] | None = None) -> SeedRun:
    """Greedy and each named policy, trained on ``world``'s training episodes, scored on its test episodes."""
    configs = configs or {}
    run = SeedRun(seed, {}, {}, {}, {}, world)
    for name in policies:
        if name == "greedy":
            run.stats[name] = run_episodes(greedy_scores(world), world, world.test)
            run.seconds[name] = world.encoder_seconds
            continue
        train, config_type = TRAINERS[name]
        config = replace(configs.get(name, config_type()), seed=seed)
        started = time.perf_counter()
        trained = train(world, config)
        run.seconds[name] = time.perf_counter() - started
        run.trained[name] = trained
        run.curves[name] = trained.curve
        run.stats[name] = run_episodes(policy_scores(trained.policy), world, world.test)
        log.info("seed %d %s: return %.3f, NDCG@10 %.4f, %.0f s (best iteration %d)", seed, name,
                 run.stats[name].mean_return, run.stats[name].ndcg_at_10, run.seconds[name], trained.best_iteration)
    return run


def summarise(runs: list[SeedRun], env: str) -> list[PolicyResult]:
    names = list(runs[0].stats)
    return [PolicyResult.from_seeds(name, env, [r.seed for r in runs], [r.stats[name] for r in runs],
                                    [r.seconds[name] for r in runs]) for name in names]


def write_results(results: list[PolicyResult], runs: list[SeedRun] | None, out: Path, title: str) -> None:
    """results.md, results.json and learning_curve.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    (out / "results.md").write_text(markdown_table(results, title))
    if runs and any(r.curves for r in runs):
        learning_curve(runs, out / "learning_curve.png", title)


def markdown_table(results: list[PolicyResult], title: str) -> str:
    def number(value: float | None) -> str:
        return "n/a" if value is None or np.isnan(value) else f"{value:.4f}"

    lines = [f"# {title}", "", "| policy | env | mean return | 95% CI | NDCG@10 | precision@10 | CTR | seeds | "
             "train s/seed |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.policy} | {r.env} | {r.mean_return:.4f} | [{r.ci95_low:.4f}, {r.ci95_high:.4f}] | "
                     f"{number(r.ndcg_at_10)} | {number(r.precision_at_10)} | {r.ctr:.4f} | {len(r.seeds)} | "
                     f"{r.train_seconds:.1f} |")
    return "\n".join(lines) + "\n"


def learning_curve(runs: list[SeedRun], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for name in runs[0].curves:
        curves = [np.array(r.curves[name]) for r in runs if name in r.curves]
        length = min(len(c) for c in curves)
        values = np.stack([c[:length, 1] for c in curves])
        axis.plot(curves[0][:length, 0], values.mean(axis=0), label=name)
        axis.fill_between(curves[0][:length, 0], values.min(axis=0), values.max(axis=0), alpha=0.2)
    axis.set_xlabel("training iteration (0: untrained = greedy ranking)")
    axis.set_ylabel("validation mean episode return")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def ctr_results(policies: list[str], seeds: list[int], users: int = 2000) -> list[PolicyResult]:
    """The bandits' CTR in the CTR simulator as table rows: mean return = clicks per episode."""
    from graphrec.training.rl.ctr_bench import compare
    from graphrec.training.rl.ctr_env import CTRConfig

    config = CTRConfig()
    steps = config.steps_per_user
    return [PolicyResult(r.policy, "ctr", r.ctr * steps, r.ci95_low * steps, r.ci95_high * steps, None, None, r.ctr,
                         seeds, [v * steps for v in r.per_seed]) for r in compare(policies, config, users, seeds)]


def scoring_latency(policy: Any, world: ReplayWorld, candidates: int = 200, calls: int = 2000) -> dict[str, float]:
    """Milliseconds to score ``candidates`` items for one request as the service does (batch of one, no grad,
    the traced RequestScorer), over ``calls`` requests drawn from the test episodes: p50 and p99. No session
    code is kept between calls: every request runs the whole network, as a session's first request does."""
    import torch

    from graphrec.training.rl.scorer import RequestScorer

    torch.set_num_threads(1)  # one request runs on one handler thread
    scorer = RequestScorer(policy, world.test.history.shape[1], cache_size=0)
    rng = np.random.default_rng(0)
    timings = []
    for _ in range(calls):
        row = int(rng.integers(len(world.test)))
        user = world.user_vectors[world.test.users[row]]
        history = world.test.history[row]
        rows = world.test.candidates[row][:candidates]
        started = time.perf_counter()
        scorer(user, history, rows)
        timings.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(timings, 50)), "p99_ms": float(np.percentile(timings, 99))}


def evaluate_logreplay(interactions: Any, items: Any, triples: Any, policies: list[str], seeds: list[int],
                       out: Path, config: Any = None, configs: dict[str, Any] | None = None,
                       dataset: str = "dataset",
                       user_model: UserModel | None = None) -> tuple[list[PolicyResult], list[SeedRun]]:
    """Every seed: a new world (encoder) and every policy trained on it; the table over seeds under ``out``.
    With ``user_model`` (training.rl.gan_env.fit_user_model), the GAN user model answers the slates of training
    and evaluation alike (env "gan") instead of the logs."""
    from graphrec.training.rl.gan_env import UserSimulator
    from graphrec.training.rl.logreplay import build_world

    runs = []
    for seed in seeds:
        world = build_world(interactions, items, triples, config, seed=seed)
        if user_model is not None:
            world.simulator = UserSimulator.for_world(*user_model, world)
        log.info("seed %d: encoder %.0f s, %d training and %d test episodes", seed, world.encoder_seconds,
                 len(world.train), len(world.test))
        runs.append(run_seed(world, seed, policies, configs))
    env = "logreplay" if user_model is None else "gan"
    results = summarise(runs, env)
    what = "log replay, held-out episodes" if user_model is None else "sessions simulated by the GAN user model"
    write_results(results, runs, out, f"{what} on {dataset}, {len(seeds)} seeds")
    return results, runs
