"""Sessions played in a simulator by any ranker, and what the tables report of them: each user's return, the
clicks per slate in the first and the last tenth of their session, and the distinct topics per slate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphrec.training.rl.sim.envs import SimBatch, SimSpec

# A ranker: the batch's current state -> each user's slate as positions into their candidates (B, k).
Ranker = Callable[[SimBatch], np.ndarray]


def top_slate(scores: np.ndarray, k: int) -> np.ndarray:
    """(B, k) the positions of each row's k best scores, best first (ties in SARDINE's oracle's order)."""
    part = np.argpartition(scores, -k, axis=1)[:, -k:]
    order = np.argsort(np.take_along_axis(scores, part, axis=1), axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def score_ranker(score: Callable[[SimBatch], np.ndarray]) -> Ranker:
    """The ranker that shows each user the k candidates of best ``score`` (B, C)."""
    return lambda batch: top_slate(score(batch), batch.slate_size)


@dataclass(frozen=True)
class SessionStats:
    returns: np.ndarray  # (U,) each user's session return
    first_tenth_clicks: np.ndarray  # (U,) clicks per slate over the first tenth of the session's slates
    last_tenth_clicks: np.ndarray  # (U,) and over the last tenth
    topics_per_slate: np.ndarray  # (U,) distinct main topics per slate shown
    slates: np.ndarray  # (U,) slates shown

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())


def play_sessions(ranker: Ranker, spec: SimSpec, seeds: np.ndarray, batch_size: int = 500) -> SessionStats:
    """One session per reset seed, played by ``ranker`` (users in lockstep batches of ``batch_size``)."""
    parts = []
    for start in range(0, len(seeds), batch_size):
        batch = SimBatch(spec, seeds[start: start + batch_size])
        clicks_per_step, topics_per_step, active_per_step, total = [], [], [], np.zeros(len(batch))
        while not batch.done:
            active = batch.active.copy()
            rewards, clicks, shown = batch.step(ranker(batch))
            total += rewards
            clicks_per_step.append(clicks.sum(1))
            topic = np.where(shown >= 0, batch.items.topics[np.maximum(shown, 0)], -1)
            topics_per_step.append(np.array([len(set(row)) for row in topic]))
            active_per_step.append(active)
        parts.append(_summarise(total, np.array(clicks_per_step), np.array(topics_per_step),
                                np.array(active_per_step)))
    return SessionStats(*(np.concatenate([getattr(p, name) for p in parts]) for name in
                          ("returns", "first_tenth_clicks", "last_tenth_clicks", "topics_per_slate", "slates")))


def _summarise(total: np.ndarray, clicks: np.ndarray, topics: np.ndarray, active: np.ndarray) -> SessionStats:
    """(steps, B) arrays -> per-user figures; a session's tenths are of its own length (at least one slate)."""
    lengths = active.sum(0)
    first, last = np.zeros(len(total)), np.zeros(len(total))
    for user, length in enumerate(lengths):
        tenth = max(1, round(int(length) / 10))
        first[user] = clicks[:tenth, user].mean()
        last[user] = clicks[length - tenth: length, user].mean()
    topics_mean = (topics * active).sum(0) / np.maximum(lengths, 1)
    return SessionStats(total, first, last, topics_mean, lengths.astype(float))
