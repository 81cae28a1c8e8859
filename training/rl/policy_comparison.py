"""Policies against the strongest non-RL ranker, over split seeds: the table (markdown and results.json), the
paired differences and the learning curves.

Each seed is a new split of every user's interactions (fit / tune / test), a new encoder on its fit part and
every model trained or tuned on its training episodes. A model's held-out return is the mean over its users; the
95% intervals are the stratified per-user bootstrap of training.paired (users resampled within each seed, seeds
averaged), and each row carries its paired difference to the strongest baseline: the non-RL ranker with the best
mean validation return (validation users carved from the training episodes, as the RL checkpoints are picked).
Every (seed, model) is stored under OUT/runs/seed-<seed>/ as it finishes, beside the seed's encoder, so a long
benchmark resumes where it stopped, in the very same world.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graphrec.training.artifacts import replace_file
from graphrec.training.names import (
    EASE_RANKER,
    KHOP_BLEND,
    MYOPIC_SUFFIX,
    MYOPIC_TWINS,
    QUALITY_SUFFIX,
    REFIT_RANKER,
    REPLAY_BASELINES,
    REPLAY_POLICIES,
    BaselineRanker,
    RankingPolicy,
)
from graphrec.training.rl.checkpoint_files import save_policy
from graphrec.training.rl.checkpoint_selection import TrainedPolicy
from graphrec.training.rl.drr import DRRConfig, train_drr
from graphrec.training.rl.kgdqn import KGDQNConfig, train_kgdqn
from graphrec.training.rl.logreplay import EncoderVectors, LogReplayConfig, ReplayWorld
from graphrec.training.rl.ppo import PPOConfig, train_ppo
from graphrec.training.rl.reference_rankers import (
    QualityBlend,
    fit_ease_ranker,
    fit_refit_rankers,
    start_weights,
    tune_blend,
    tune_quality,
)
from graphrec.training.rl.rollout import (
    EpisodeStats,
    ScoreFn,
    greedy_scores,
    policy_scores,
    run_episodes,
    split_validation,
)
from graphrec.training.rl.tables import PolicyResult, paired_rows, write_results

if TYPE_CHECKING:
    from graphrec.training.rl.gan_env import UserModel

log = logging.getLogger(__name__)

TRAINERS: dict[str, tuple[Callable[[ReplayWorld, Any], TrainedPolicy], type]] = {
    RankingPolicy.drr: (train_drr, DRRConfig), RankingPolicy.ppo: (train_ppo, PPOConfig),
    RankingPolicy.kgdqn: (train_kgdqn, KGDQNConfig)}
assert set(REPLAY_POLICIES) == {*REPLAY_BASELINES, *TRAINERS, *MYOPIC_TWINS}


def trained_as(name: str, config: Any) -> tuple[str, Any]:
    """(the trainer's name, the config) a row trains with: a discount-0 twin is its policy at gamma 0."""
    base = name.removesuffix(MYOPIC_SUFFIX)
    if base not in TRAINERS:
        return name, config
    config = config or TRAINERS[base][1]()
    return base, replace(config, gamma=0.0) if base != name else config
VALIDATION_FRACTION = 0.2  # the RL trainers' default: baselines are compared on the same validation users
ENCODER_FILE = "encoder.npz"  # a seed's encoder, kept so that resumed models meet the very same world


@dataclass
class ModelRun:
    """One (dataset, seed, model): everything the table needs, stored so that a benchmark resumes."""

    policy: str
    seed: int
    world: str  # fingerprint of the held-out episodes: runs of one seed must have scored the same ones
    returns: list[float]  # per held-out user, in the world's order
    validation_return: float
    ndcg_at_10: float
    precision_at_10: float
    ctr: float
    seconds: float
    best_iteration: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    curve: list[tuple[int, float]] = field(default_factory=list)
    step_returns: list[float] = field(default_factory=list)  # mean held-out reward of each slate
    users: list[int] = field(default_factory=list)  # the held-out users' rows, in the order of returns

    @classmethod
    def load(cls, path: Path) -> ModelRun:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, lambda temporary: temporary.write_text(json.dumps(asdict(self))))


def load_encoder(path: Path) -> EncoderVectors | None:
    if not path.is_file():
        return None
    with np.load(path) as stored:
        if "epochs" not in stored:  # without its early-stopping epoch no refit can follow it: train it again
            return None
        return EncoderVectors(stored["user_vectors"], stored["item_vectors"], float(stored["seconds"]),
                              int(stored["epochs"]))


def save_encoder(path: Path, world: ReplayWorld) -> None:
    def write(temporary: Path) -> None:
        with temporary.open("wb") as file:  # a file object: np.savez would append .npz to a path
            np.savez(file, user_vectors=world.user_vectors, item_vectors=world.item_vectors,
                     seconds=world.encoder_seconds, epochs=world.encoder_epochs)

    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, write)


def stale(run: ModelRun, wanted: Any) -> bool:
    """Whether a stored run was trained with another config than ``wanted`` (the seed and the start aside)."""
    if wanted is None:
        return False
    expected = {key: value for key, value in asdict(wanted).items()
                if key not in ("seed", "quality_start", "fold_start")}
    return any(run.config.get(key) != value for key, value in expected.items())


def world_fingerprint(world: ReplayWorld) -> str:
    digest = hashlib.sha256(world.test.users.tobytes() + world.test.candidates.tobytes())
    return digest.hexdigest()[:16]


def start_blend(done: dict[str, ModelRun]) -> dict[str, float]:
    """The starting weights of a seed's RL policies: those of the tuned blend (greedy_quality, greedy_folded) of
    best validation return among ``done``'s (none yet: greedy's, all 0)."""
    blends = set(BaselineRanker)
    return start_weights((run.validation_return, run.config) for name, run in done.items() if name in blends)


def run_model(world: ReplayWorld, name: str, seed: int, config: Any, folder: Path,
              start: dict[str, float] | None = None, fingerprint: str | None = None) -> ModelRun:
    """Train or tune ``name`` on ``world``'s training episodes and score it once on the held-out ones; a model
    with a checkpoint writes it to ``folder``/<name>.pt. An RL policy starts as the blend whose weights ``start``
    holds ranks (start_blend; training.rl.nets)."""
    # the RL policies train on ``learn`` and pick checkpoints on ``valid``: the baselines are tuned on ``learn``
    # too, so every row learns from the same users and every validation return is out of sample
    learn, valid = split_validation(world.train, VALIDATION_FRACTION, seed)
    started = time.perf_counter()
    trained: TrainedPolicy | None = None
    extra: dict[str, Any] = {}
    score: ScoreFn = greedy_scores(world)
    if name == "greedy":
        seconds = world.encoder_seconds
    elif name in (EASE_RANKER, f"{EASE_RANKER}{QUALITY_SUFFIX}"):
        ranker, seconds = fit_ease_ranker(world, episodes=learn)
        score, extra = ranker, {"model": ranker.model, **ranker.config}
        if name != EASE_RANKER:  # tuned on the same episodes as EASE's own weights
            score, _ = tune_quality(world, ranker, learn)
            extra["quality_weight"], seconds = score.weight, time.perf_counter() - started
    elif name in (REFIT_RANKER, f"{REFIT_RANKER}{QUALITY_SUFFIX}"):
        validation_score, score, seconds = fit_refit_rankers(world, valid.users, seed)
        extra = {"epochs": world.encoder_epochs}
        if name != REFIT_RANKER:
            # the validation users are the only episodes whose targets the refit encoder has not learned: the
            # weight is tuned there (an in-sample validation return, which can only favour this baseline)
            validation_score, _ = tune_quality(world, validation_score, valid)
            score = QualityBlend(score, world.item_quality, validation_score.weight)
            extra["quality_weight"], seconds = validation_score.weight, time.perf_counter() - started
    elif name == KHOP_BLEND:  # KG-DQN untrained: the starting blend, two-hop filtered
        trained = train_kgdqn(world, replace(KGDQNConfig(), iterations=0, seed=seed, **(start or {})))
    elif name in set(BaselineRanker):
        trained = tune_blend(world, name, seed, learn)
    else:
        base, config = trained_as(name, config)
        trained = TRAINERS[base][0](world, replace(config, seed=seed, **(start or {})))
    if trained is not None:
        seconds = time.perf_counter() - started
        score = policy_scores(trained.policy, world)
        extra = asdict(trained.policy.config)
        save_policy(trained.policy, folder / f"{name}.pt")
    learned = name.removesuffix(MYOPIC_SUFFIX) in TRAINERS
    if learned and trained is not None:
        validation = dict(trained.curve)[trained.best_iteration]
    else:
        refit = name.startswith(REFIT_RANKER)
        validation = run_episodes(validation_score if refit else score, world, valid).mean_return
    test: EpisodeStats = run_episodes(score, world, world.test)
    run = ModelRun(name, seed, fingerprint or world_fingerprint(world), test.returns.tolist(), validation,
                   test.ndcg_at_10, test.precision_at_10, test.ctr, seconds,
                   trained.best_iteration if trained else 0, extra,
                   list(trained.curve) if trained and learned else [], test.step_returns.tolist(),
                   world.test.users.tolist())
    log.info("seed %d %s: return %.4f (validation %.4f), NDCG@10 %.4f, %.0f s", seed, name, test.mean_return,
             validation, test.ndcg_at_10, seconds)
    return run


def summarise(runs: dict[int, dict[str, ModelRun]], policies: list[str], env: str,
              dataset: str) -> list[PolicyResult]:
    """A row per model: the mean held-out return with its bootstrap interval over users and seeds, and the
    paired difference to the baseline with the best mean validation return."""
    seeds = sorted(runs)

    def mean(name: str, key: str) -> float:
        return float(np.mean([getattr(runs[s][name], key) for s in seeds]))

    # In the GAN sessions the headline baseline is the best non-RL row on the held-out users (their simulated
    # user differs from the validation users', so validation could pick another), and the table says so.
    key = "held_out" if env == "gan" else "validation_return"
    strongest = max([name for name in policies if name in REPLAY_BASELINES],
                    key=lambda name: mean(name, key) if key != "held_out" else float(np.mean(
                        [np.mean(runs[s][name].returns) for s in seeds])), default=None)
    values = {name: [np.asarray(runs[s][name].returns) for s in seeds] for name in policies}
    # the same users recur in every split: one cluster each (runs stored before users were recorded: per seed)
    users = [runs[s][policies[0]].users for s in seeds]
    ids = [np.asarray(u) for u in users] if all(users) else None
    rows = paired_rows(values, strongest, ids, {name for name in policies if name not in REPLAY_BASELINES},
                       env=env, dataset=dataset, split_seeds=seeds)
    for row in rows:
        row.ndcg_at_10, row.precision_at_10, row.ctr = (
            mean(row.policy, "ndcg_at_10"), mean(row.policy, "precision_at_10"), mean(row.policy, "ctr"))
        row.validation_return, row.train_seconds = mean(row.policy, "validation_return"), mean(row.policy, "seconds")
        steps = [runs[s][row.policy].step_returns for s in seeds]
        row.step_returns = np.mean(steps, axis=0).tolist() if all(steps) else []
    return rows


def scoring_latency(policy: Any, candidates: int = 200, calls: int = 2000) -> dict[str, float]:
    """Milliseconds to score ``candidates`` items for one request as the service does (batch of one, no grad,
    the traced RequestScorer), over ``calls`` requests of random item rows with full histories: p50 and p99. No
    session code is kept between calls: every request runs the whole network, as a session's first one does."""
    import torch

    from graphrec.training.rl.scorer import RequestScorer

    torch.set_num_threads(1)  # one request runs on one handler thread
    history = int(getattr(policy.config, "history", 10))
    scorer = RequestScorer(policy, history, cache_size=0)
    table = policy.items.table.numpy()[:-1]
    rng = np.random.default_rng(0)
    timings = []
    for _ in range(calls):
        user = table[rng.integers(len(table), size=history)].mean(axis=0)
        rows = rng.choice(len(table), size=history + candidates, replace=False)
        started = time.perf_counter()
        scorer(user, rows[:history], rows[history:])
        timings.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(timings, 50)), "p99_ms": float(np.percentile(timings, 99))}


def evaluate_logreplay(interactions: Any, items: Any, triples: Any, policies: list[str], seeds: list[int],
                       out: Path, config: LogReplayConfig | None = None, configs: dict[str, Any] | None = None,
                       dataset: str = "dataset", user_model: Callable[[int], UserModel] | None = None,
                       ) -> tuple[list[PolicyResult], dict[int, dict[str, ModelRun]]]:
    """Every seed: a new split and encoder, every model trained or tuned on it, each stored under
    ``out``/runs/seed-<seed>/ (a stored one is read back, not run again); then the table over seeds. With
    ``user_model``, the GAN user model answers the slates of training and
    evaluation alike (env "gan") instead of the logs: ``user_model(seed)`` is the one for that seed's split
    (training.rl.gan_env.split_user_model), asked for only when a model of the seed has to run."""
    from graphrec.training.rl.gan_env import UserSimulator
    from graphrec.training.rl.logreplay import build_world

    unknown = [name for name in policies if name not in REPLAY_POLICIES]
    if unknown:
        raise ValueError(f"unknown policies {', '.join(unknown)}; choose from {', '.join(REPLAY_POLICIES)}")
    config = config or LogReplayConfig()
    configs = configs or {}
    runs: dict[int, dict[str, ModelRun]] = {}
    for seed in seeds:
        folder = out / "runs" / f"seed-{seed}"
        done = {name: ModelRun.load(folder / f"{name}.json") for name in policies
                if (folder / f"{name}.json").is_file()}
        wanted = {name: configs.get(name.removesuffix(MYOPIC_SUFFIX)) for name in done}
        done = {name: run for name, run in done.items()
                if not stale(run, None if wanted[name] is None else trained_as(name, wanted[name])[1])}
        if len({run.world for run in done.values()}) > 1:
            raise ValueError(f"{folder}: stored runs of one seed scored different episodes; delete the folder")
        missing = [name for name in policies if name not in done]
        if missing:
            world = build_world(interactions, items, triples, replace(config, split_seed=seed), seed=seed,
                                encoder=load_encoder(folder / ENCODER_FILE))
            save_encoder(folder / ENCODER_FILE, world)
            if user_model is not None:
                world.simulator = UserSimulator.for_world(*user_model(seed), world)
            fingerprint = world_fingerprint(world)
            if any(run.world != fingerprint for run in done.values()):
                log.warning("seed %d: the stored runs scored other episodes (changed data or code); running all "
                            "models again", seed)
                done, missing = {}, list(policies)
            log.info("seed %d: encoder %.0f s, %d training and %d test episodes; running %s", seed,
                     world.encoder_seconds, len(world.train), len(world.test), ", ".join(missing))
            for name in sorted(missing, key=lambda name: name not in REPLAY_BASELINES):  # baselines first
                done[name] = run_model(world, name, seed, configs.get(name.removesuffix(MYOPIC_SUFFIX)), folder,
                                       start_blend(done), fingerprint)
                done[name].save(folder / f"{name}.json")
        else:
            log.info("seed %d: every model read from %s", seed, folder)
        runs[seed] = done
    env = "logreplay" if user_model is None else "gan"
    results = summarise(runs, policies, env, dataset)
    what = "log replay, held-out episodes" if user_model is None else (
        "sessions simulated by the GAN user model (baseline: the best non-RL row on the held-out users)")
    write_results(results, runs, out, f"{what} on {dataset}, split seeds {', '.join(map(str, seeds))}")
    return results, runs

