"""Paired differences between two rankers scored on the same users, with a bootstrap 95% interval.

Two rankers evaluated on the same held-out users are compared user by user (policy minus baseline): the
user-to-user variance, which dominates either ranker's own interval, cancels, so a small real gap is not lost in
it, and a gap inside the noise is not read as a ranking. With several split seeds the users are resampled
within each seed (a stratified bootstrap: each seed is its own population of held-out users) and the seeds'
mean differences are averaged, so every seed weighs the same whatever its number of users (Efron & Tibshirani,
An Introduction to the Bootstrap, 1993, ch. 13, percentile intervals). scipy.stats.bootstrap has no strata,
hence the few lines here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DRAWS = 10_000
CHUNK = 1_000  # draws resampled at once: CHUNK x users indices in memory


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-user differences (averaged over seeds) and its percentile bootstrap 95% interval."""

    mean: float
    ci95_low: float
    ci95_high: float

    @property
    def above_zero(self) -> bool:
        """Whether the first ranker is better beyond the noise: the whole interval lies above 0."""
        return self.ci95_low > 0


def mean_interval(values: Sequence[np.ndarray], *, draws: int = DRAWS, seed: int = 0) -> PairedDifference:
    """The mean of per-user ``values`` (averaged over seeds) with the same stratified bootstrap interval: the
    difference to a ranker that scores 0 for everyone."""
    return paired_difference(values, [np.zeros_like(np.asarray(v, dtype=np.float64)) for v in values], draws=draws,
                             seed=seed)


def paired_difference(policy: Sequence[np.ndarray], baseline: Sequence[np.ndarray], *, draws: int = DRAWS,
                      seed: int = 0) -> PairedDifference:
    """``policy[s][u] - baseline[s][u]`` for the users ``u`` of each split seed ``s`` (the same users, in the same
    order, for both), averaged over users and then over seeds, with users resampled ``draws`` times within each
    seed."""
    if len(policy) != len(baseline) or not policy:
        raise ValueError(f"paired_difference needs the same non-zero number of seeds for both rankers "
                         f"(got {len(policy)} and {len(baseline)})")
    differences = []
    for index, (ours, theirs) in enumerate(zip(policy, baseline, strict=True)):
        ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
        if ours.shape != theirs.shape or ours.ndim != 1 or not len(ours):
            raise ValueError(f"seed {index}: per-user values must be two 1-d arrays of one non-zero length "
                             f"(got shapes {ours.shape} and {theirs.shape})")
        differences.append(ours - theirs)
    rng = np.random.default_rng(seed)
    means = np.zeros(draws)
    for difference in differences:
        for start in range(0, draws, CHUNK):
            size = min(CHUNK, draws - start)
            picks = rng.integers(0, len(difference), size=(size, len(difference)))
            means[start:start + size] += difference[picks].mean(axis=1)
    means /= len(differences)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(float(np.mean([d.mean() for d in differences])), float(low), float(high))
