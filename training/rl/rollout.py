"""Running policies through log-replay episodes: batched rollouts and the evaluation every policy gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphrec.training.rl.logreplay import (
    Episodes,
    LogReplayConfig,
    ReplayWorld,
    first_slate_metrics,
    slate_from_scores,
)
from graphrec.training.rl.nets import CandidatePolicy

# (a batch of episodes, their current states' history rows (B, H)) -> scores of their candidates (B, C)
ScoreFn = Callable[[Episodes, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class EncoderRanker:
    """Greedy over an encoder's embeddings: u . e_i for each episode's candidates."""

    user_vectors: np.ndarray
    item_vectors: np.ndarray

    def __call__(self, part: Episodes, history: np.ndarray) -> np.ndarray:
        return np.einsum("bd,bcd->bc", self.user_vectors[part.users], self.item_vectors[part.candidates])


def greedy_scores(world: ReplayWorld) -> ScoreFn:
    return EncoderRanker(world.user_vectors, world.item_vectors)


def greedy_spread(world: ReplayWorld, episodes: Episodes) -> float:
    """The standard deviation of the greedy scores over each episode's candidates, averaged over ``episodes``: the
    scale a score adjustment is measured in (PPO's temperature, the baselines' quality weight)."""
    return float(greedy_scores(world)(episodes, episodes.history).std(axis=1).mean())


def policy_scores(policy: CandidatePolicy, world: ReplayWorld) -> ScoreFn:
    def score(part: Episodes, history: np.ndarray) -> np.ndarray:
        return policy.score_numpy(world.user_vectors[part.users], history, part.candidates)

    return score


@dataclass(frozen=True)
class EpisodeStats:
    returns: np.ndarray  # (U,) episode return per user
    hits: int  # shown items that were targets
    shown: int
    ndcg_at_10: float  # first slate against all targets
    precision_at_10: float
    step_returns: np.ndarray  # (steps,) mean reward of each slate of the episode, over users

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    @property
    def ctr(self) -> float:
        return self.hits / max(self.shown, 1)


def run_episodes(score: ScoreFn, world: ReplayWorld, episodes: Episodes, batch_size: int = 1024) -> EpisodeStats:
    """Every episode played greedily by ``score`` (the best k available candidates each step)."""
    config: LogReplayConfig = world.config
    returns, firsts, hits, shown = [], [], 0, 0
    step_totals = np.zeros(config.steps)
    for start in range(0, len(episodes), batch_size):
        part = episodes.subset(np.arange(start, min(start + batch_size, len(episodes))))
        batch = world.batch(part, seed=start)
        total = np.zeros(len(part))
        first = None
        while not batch.done:
            slate = slate_from_scores(score(part, batch.history), batch.available, config.slate_size)
            first = slate if first is None else first
            step = batch.steps_taken
            reward, item_rewards = batch.step(slate)
            step_totals[step] += reward.sum()
            total += reward
            hits += int((~np.isnan(item_rewards)).sum())
            shown += item_rewards.size
        returns.append(total)
        firsts.append(first)
    metrics = first_slate_metrics(episodes, np.vstack(firsts), 10)
    return EpisodeStats(np.concatenate(returns), hits, shown, metrics.get("ndcg@10", float("nan")),
                        metrics.get("precision@10", float("nan")), step_totals / max(len(episodes), 1))


def split_validation(episodes: Episodes, fraction: float, seed: int) -> tuple[Episodes, Episodes]:
    """(training, validation) episodes: a random ``fraction`` of the training users picks checkpoints."""
    order = np.random.default_rng(seed).permutation(len(episodes))
    cut = max(1, round(fraction * len(episodes)))
    return episodes.subset(np.sort(order[cut:])), episodes.subset(np.sort(order[:cut]))
