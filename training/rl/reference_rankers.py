"""The non-RL rankers every RL policy is measured against, given the same information and the same candidates.

An RL policy scores the encoder's candidates from the user's vector, the session's recent positives (the
context's and those revealed during the episode) and an item-quality prior. Each of those can also be used
without learning a policy, so each gets a baseline with one or two weights tuned on training episodes (whose
targets no encoder and no test episode uses): in the benchmarks, on the very users the RL policies learn from,
so that every row's validation return is out of sample (training.rl.policy_comparison.run_model):

    greedy_quality   u . e_i + lambda q_i: the encoder's ranking plus the quality prior
    greedy_folded    (u + beta h) . e_i + lambda q_i: also folds the session's positives h (the mean of the
                     state's item vectors, what the service does for a user it has no vector for) into the user
    greedy_refit     u' . e'_i: the encoder trained again on fit + tune (the training episodes' targets, which
                     the test episodes' context holds), for its early-stopping epoch count; the greedy ranking of
                     a service that retrains on everything it has
    ease             the strongest offline model of the quality table (EASE, Steck 2019, or its knowledge-graph
                     variant kgease_beta) scoring the same candidates from the context plus the revealed positives
    ease_quality, greedy_refit_quality
                     those two plus lambda q_i, lambda tuned on the quality grid in units of their own score spread
    blend_khop       the starting blend (the tuned blend of best validation return) with KG-DQN's two-hop filter:
                     what KG-DQN ranks as before training, so its row minus this one is what KG-DQN learned

The first two are CandidatePolicy modules, so the service can serve them like any checkpoint (a paired test can
make one the default); the service's own refresh is what greedy_refit imitates, and EASE holds an items x items
matrix, so those two stay benchmark baselines.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from graphrec.training.names import BaselineRanker, Model
from graphrec.training.rl.checkpoint_selection import TrainedPolicy
from graphrec.training.rl.logreplay import Episodes, ReplayWorld, ndcg_floor
from graphrec.training.rl.nets import CandidatePolicy, PolicyInputs, score_action
from graphrec.training.rl.rollout import (
    EncoderRanker,
    ScoreFn,
    greedy_scores,
    greedy_spread,
    policy_scores,
    run_episodes,
)

# Grids relative to the world's scales (a quality weight of 1 moves a score by one standard deviation of the
# greedy scores over a user's candidates; a fold weight of 1 gives the history mean the user vector's norm).
QUALITY_GRID = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
FOLD_GRID = (0.0, 0.25, 0.5, 1.0, 2.0)
EASE_L2_GRID = (100.0, 300.0, 1000.0)


@dataclass(frozen=True)
class BlendConfig:
    """The tuned weights, in the world's score units (the grids' relative values times its scales)."""

    quality_weight: float = 0.0
    fold_weight: float = 0.0
    history: int = 10
    seed: int = 0


class BlendPolicy(CandidatePolicy):
    """Scores (u + beta h) . e_i + lambda q_i: h the mean item vector of the state's history (padding left out),
    q_i the item's quality prior. Fixed weights and no network: a ranker, not a learner."""

    config_type = BlendConfig
    quality_grid: ClassVar[Sequence[float]] = QUALITY_GRID
    fold_grid: ClassVar[Sequence[float]] = (0.0,)

    @classmethod
    def build(cls, item_vectors: np.ndarray, item_quality: np.ndarray, config: BlendConfig,
              **_: Any) -> BlendPolicy:
        return cls(item_vectors, item_quality, config)

    def session_code(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        return self.blend_action(user, history_rows, self.config.fold_weight, self.config.quality_weight)

    def scores_from_code(self, code: torch.Tensor, inputs: PolicyInputs) -> torch.Tensor:
        return score_action(code, self.items, inputs.candidate_rows)


class GreedyQualityPolicy(BlendPolicy):
    name = BaselineRanker.greedy_quality.value


class GreedyFoldedPolicy(BlendPolicy):
    name = BaselineRanker.greedy_folded.value
    fold_grid = FOLD_GRID


BLENDS: dict[str, type[BlendPolicy]] = {cls.name: cls for cls in (GreedyQualityPolicy, GreedyFoldedPolicy)}
assert set(BLENDS) == set(BaselineRanker), "every baseline ranker has its class"


def start_weights(blends: Iterable[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    """An RL policy's starting weights (quality_start, fold_start: training.rl.nets): those of the tuned blend of
    best validation return among ``blends`` ((validation return, config) pairs), so that the policy starts exactly
    as that blend ranks; all 0 (greedy's) when there is none."""
    config = max(blends, key=lambda blend: blend[0], default=(0.0, {}))[1]
    return {"quality_start": float(config.get("quality_weight", 0.0)),
            "fold_start": float(config.get("fold_weight", 0.0))}


def world_scales(world: ReplayWorld, episodes: Episodes) -> tuple[float, float]:
    """(standard deviation of the greedy scores over a user's candidates, mean user norm / mean item norm),
    averaged over ``episodes``: the units of the quality and fold weights."""
    norms = np.linalg.norm(world.user_vectors, axis=1).mean() / max(
        float(np.linalg.norm(world.item_vectors, axis=1).mean()), 1e-12)
    return greedy_spread(world, episodes), float(norms)


def tune_blend(world: ReplayWorld, name: str, seed: int = 0, episodes: Episodes | None = None) -> TrainedPolicy:
    """The blend named ``name`` with the grid's weights of the best mean return over the training episodes among
    those within the NDCG guard (LogReplayConfig.ndcg_tolerance, the rule of every row);
    the curve lists every grid point's return (in grid order) and best_iteration the chosen one. ``episodes``:
    the episodes it is tuned on (default all the training episodes; the benchmarks pass the RL policies'
    training part, so that every row learns from the same users)."""
    started = time.perf_counter()
    cls = BLENDS[name]
    episodes = episodes if episodes is not None else world.train
    quality_unit, fold_unit = world_scales(world, episodes)
    result = TrainedPolicy(cls(world.item_vectors, world.item_quality, BlendConfig(seed=seed)))
    floor = ndcg_floor(world.config, run_episodes(greedy_scores(world), world, episodes).ndcg_at_10)
    best = float("-inf")
    for index, (fold, quality) in enumerate(itertools.product(cls.fold_grid, cls.quality_grid)):
        config = BlendConfig(quality_weight=quality * quality_unit, fold_weight=fold * fold_unit,
                             history=world.config.history, seed=seed)
        policy = cls(world.item_vectors, world.item_quality, config)
        stats = run_episodes(policy_scores(policy, world), world, episodes)
        result.curve.append((index, stats.mean_return))
        if stats.mean_return > best and stats.ndcg_at_10 >= floor:  # (0, 0), greedy itself, always passes
            best, result.policy, result.best_iteration = stats.mean_return, policy, index
    result.policy.eval()
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class EaseRanker:
    """EASE's item-item weights ``b`` scoring a batch's candidates from each user's context plus the state's
    positives that are not in it (revealed during the episode)."""

    b: np.ndarray  # (items, items), zero diagonal
    model: str
    config: dict[str, float]

    def __call__(self, part: Episodes, history: np.ndarray) -> np.ndarray:
        rows = np.arange(len(part))[:, None]
        base = np.asarray(part.seen @ self.b, dtype=np.float32)[rows, part.candidates]
        valid = history >= 0
        safe = np.where(valid, history, 0)
        revealed = valid & (np.asarray(part.seen[rows, safe].todense()) == 0)
        extra = self.b[safe[:, :, None], part.candidates[:, None, :]]  # (B, H, C)
        return base + (extra * revealed[:, :, None]).sum(axis=1)


def fit_ease_ranker(world: ReplayWorld, l2_grid: Sequence[float] = EASE_L2_GRID,
                    episodes: Episodes | None = None) -> tuple[EaseRanker, float]:
    """kgease_beta (with the knowledge graph) or EASE fit on the encoder's training part, its L2 weight (and
    kgease_beta's popularity exponent, folded into the weights' columns: x (B diag(w)) = (x B) diag(w)) picked by
    the mean return over ``episodes`` (default the training episodes) within the NDCG guard; returns the ranker
    and the seconds it took."""
    from graphrec.training.models.non_neural import DebiasedKnowledgeEASE
    from graphrec.training.models.registry import model_class

    if world.fit_data is None:
        raise ValueError("the world keeps no training data (fit_data) for EASE to fit on")
    started = time.perf_counter()
    name = Model.kgease_beta if world.fit_data.kg is not None else Model.ease
    cls = model_class(name)
    default = dict(cls.grid[0])
    betas = DebiasedKnowledgeEASE.BETAS if name == Model.kgease_beta else (0.0,)
    popularity = np.maximum(world.fit_data.item_counts(), 1).astype(np.float32)
    episodes = episodes if episodes is not None else world.train
    floor = ndcg_floor(world.config, run_episodes(greedy_scores(world), world, episodes).ndcg_at_10)
    candidates: list[tuple[bool, float, float, EaseRanker]] = []
    for l2 in l2_grid:
        model = cls(**{**default, "l2": l2})
        model.fit(world.fit_data)
        for beta in betas:
            config = {**default, "l2": l2, **({"beta": beta} if name == Model.kgease_beta else {})}
            ranker = EaseRanker(model.b * np.power(popularity, -beta)[None, :], name, config)
            stats = run_episodes(ranker, world, episodes)
            candidates.append((stats.ndcg_at_10 >= floor, stats.mean_return, stats.ndcg_at_10, ranker))
    # the guard's rule; if no grid point passes it, the one of best NDCG@10 (the nearest to passing)
    passing = [c for c in candidates if c[0]]
    chosen = max(passing, key=lambda c: c[1]) if passing else max(candidates, key=lambda c: c[2])
    return chosen[3], time.perf_counter() - started


def fit_refit_rankers(world: ReplayWorld, validation_users: np.ndarray,
                      seed: int) -> tuple[EncoderRanker, EncoderRanker, float]:
    """greedy_refit: (the ranker for validation episodes, the one for test episodes, seconds). The encoder is
    trained again on fit + tune for the world's early-stopping epoch count: once without the tune pairs of
    ``validation_users`` (user rows), whose episodes that ranker scores, so its validation return is
    out-of-sample like the other models'; once on every tune pair, for the test episodes."""
    from graphrec.training.rl.logreplay import train_encoder
    from graphrec.training.train_data import train_data

    if world.split is None or world.encoder_epochs < 1:
        raise ValueError("the world keeps no split (split, encoder_epochs) to refit its encoder on")
    started = time.perf_counter()
    fit, tune = world.split.fit, world.split.tune
    held = np.isin(world.catalogue.user_index(tune["user_id"]), validation_users)
    rankers = []
    for learned in (tune[~held], tune):
        data = train_data(world.catalogue, pd.concat([fit, learned]).assign(count=1), world.split.triples)
        vectors = train_encoder(world.config, world.catalogue, data, None, seed, epochs=world.encoder_epochs)
        rankers.append(EncoderRanker(vectors.user_vectors, vectors.item_vectors))
    return rankers[0], rankers[1], time.perf_counter() - started


@dataclass(frozen=True)
class QualityBlend:
    """A ranker's scores plus ``weight`` times each candidate's item-quality prior."""

    base: ScoreFn
    quality: np.ndarray  # (items,)
    weight: float

    def __call__(self, part: Episodes, history: np.ndarray) -> np.ndarray:
        return self.base(part, history) + self.weight * self.quality[part.candidates]


def tune_quality(world: ReplayWorld, base: ScoreFn, episodes: Episodes) -> tuple[QualityBlend, list[float]]:
    """``base`` plus the quality weight of best mean return on ``episodes`` within the NDCG guard (weight 0,
    the base itself, always passes); the grid is QUALITY_GRID in units of the base's score spread over a
    user's candidates. Returns the blend and every grid point's return."""
    unit = float(base(episodes, episodes.history).std(axis=1).mean())
    floor = ndcg_floor(world.config, run_episodes(greedy_scores(world), world, episodes).ndcg_at_10)
    best, returns = QualityBlend(base, world.item_quality, 0.0), []
    best_return = float("-inf")
    for weight in QUALITY_GRID:
        blend = QualityBlend(base, world.item_quality, weight * unit)
        stats = run_episodes(blend, world, episodes)
        returns.append(stats.mean_return)
        if stats.mean_return > best_return and (weight == 0.0 or stats.ndcg_at_10 >= floor):
            best, best_return = blend, stats.mean_return
    return best, returns
