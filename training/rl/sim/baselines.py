"""The non-RL rows of every simulator table: the package's random agent, the greedy oracle, the greedy ranking
on what the observation says of the user, and a tuned heuristic that also uses what the observation offers of
the future.

- random: the package's own random agent (SARDINE: a sample of the action space; RecSim: its RandomAgent).
- oracle: the environment's true click relevance of each candidate, best k (SARDINE's short-term oracle,
  RecSim's GreedyPCTRAgent with the true user state and choice model). Privileged: it reads the hidden user
  state, so it is reported but never the "best non-RL row" RL is compared with.
- greedy: u . e_i, the user vector of training.rl.sim.envs (SARDINE: the direction of the session's clicks;
  RecSim: the observed interests).
- heuristic: SARDINE: u . e_i - lambda * hist[topic(i)], the recent-topic histogram the observation carries
  (boredom comes from clicking one topic too often); RecSim: u . e_i + lambda * qhat[cluster(i)], qhat the mean
  quality of each cluster in the responses of the tuning users' random sessions (a nutritious video lengthens the
  session). lambda is tuned on the tuning users (lambda 0 is the greedy row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphrec.training.rl.sim.envs import SimBatch, SimSpec
from graphrec.training.rl.sim.play import Ranker, play_sessions, score_ranker, top_slate

HEURISTIC_GRID = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def random_ranker(batch: SimBatch) -> np.ndarray:
    return batch.package_random_slates()


def oracle_ranker(batch: SimBatch) -> np.ndarray:
    package = batch.package_oracle_slates()
    return package if package is not None else top_slate(batch.relevance(), batch.slate_size)


def greedy_scores(batch: SimBatch) -> np.ndarray:
    return np.einsum("bd,bcd->bc", batch.user_vectors, batch.items.vectors[batch.candidates])


@dataclass(frozen=True)
class Heuristic:
    """Greedy plus ``weight`` times the term the module docstring names; ``quality`` is RecSim's qhat."""

    weight: float
    quality: np.ndarray | None = None

    def scores(self, batch: SimBatch) -> np.ndarray:
        greedy = greedy_scores(batch)
        if self.quality is not None:
            return greedy + self.weight * self.quality[batch.candidates]
        topics = batch.items.topics[batch.candidates]
        return greedy - self.weight * np.take_along_axis(batch.context, topics, axis=1)

    def ranker(self) -> Ranker:
        return score_ranker(self.scores)


def cluster_quality(spec: SimSpec, seeds: np.ndarray) -> np.ndarray:
    """RecSim: the mean quality per cluster over the responses of random sessions of ``seeds`` (0 if unseen)."""
    total: np.ndarray | float = 0.0
    count: np.ndarray | float = 0.0
    for start in range(0, len(seeds), 500):
        batch = SimBatch(spec, seeds[start: start + 500])
        while not batch.done:
            batch.step(batch.package_random_slates())
        total = total + batch.quality_sum.sum(0)
        count = count + batch.quality_count.sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def tune_heuristic(spec: SimSpec, seeds: np.ndarray,
                   grid: tuple[float, ...] = HEURISTIC_GRID) -> tuple[Heuristic, dict[float, float]]:
    """The weight of best mean return on the tuning users ``seeds``, and every weight's return."""
    quality = cluster_quality(spec, seeds) if spec.family == "recsim" else None
    returns = {weight: play_sessions(Heuristic(weight, quality).ranker(), spec, seeds).mean_return
               for weight in grid}
    best = max(returns, key=lambda weight: returns[weight])
    return Heuristic(best, quality), returns


BASELINES: dict[str, Callable[[SimBatch], np.ndarray]] = {
    "random": random_ranker, "oracle": oracle_ranker, "greedy": score_ranker(greedy_scores)}
PRIVILEGED = frozenset({"oracle"})
