"""The statistics of the simulator tables (Agarwal et al., NeurIPS 2021, "Deep RL at the Edge of the Statistical
Precipice"): per row the interquartile mean and the mean of the per-seed session return with stratified bootstrap
intervals over training seeds; per RL row the paired difference to the best non-RL row, per user, with
training.paired's nested bootstrap (training seeds resampled, then the held-out users within each drawn seed: both
the training and the user variance enter the interval) and Holm's correction over the RL rows of one claim.

The IQM is rliable's (``metrics.aggregate_iqm`` is scipy's 25% trimmed mean over runs x tasks); rliable itself is
not a dependency: its bootstrap runs on ``arch``, whose 7.x releases do not import with pandas 3 and whose 8.0
refuses the ``random_state`` argument rliable 1.2 passes. With one task per table (the environment) its stratified
bootstrap is the percentile bootstrap over runs written here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from graphrec.training.paired import HolmTest, holm_tests, nested_bootstrap

DRAWS = 5_000


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


def iqm(scores: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The interquartile mean: the mean of the middle half (scipy's 25% trimmed mean, as rliable computes it)."""
    if axis is None:
        return np.asarray(stats.trim_mean(np.ravel(scores), proportiontocut=0.25))
    return np.asarray(stats.trim_mean(scores, proportiontocut=0.25, axis=axis))


def iqm_and_mean(per_seed: np.ndarray, draws: int = DRAWS, seed: int = 0) -> tuple[Estimate, Estimate]:
    """(IQM, mean) of per-seed returns with percentile bootstrap 95% intervals over the seeds."""
    values = np.asarray(per_seed, dtype=np.float64)
    resampled = values[np.random.default_rng(seed).integers(0, len(values), size=(draws, len(values)))]
    estimates = []
    for point, samples in ((float(iqm(values)), iqm(resampled, axis=1)), (float(values.mean()),
                                                                         resampled.mean(1))):
        low, high = np.percentile(samples, [2.5, 97.5])
        estimates.append(Estimate(point, float(low), float(high)))
    return estimates[0], estimates[1]


def paired_tests(differences: dict[str, Sequence[np.ndarray]], alpha: float = 0.05,
                 draws: int = DRAWS) -> dict[str, HolmTest]:
    """Each row's per-user differences to the best non-RL row (a list over training seeds; each seed has its own
    simulated users), bootstrapped over seeds and users within them, tested together with Holm's correction."""
    return holm_tests({name: (float(np.mean([np.mean(d) for d in per_seed])),
                              nested_bootstrap(per_seed, draws=draws, seed=offset))
                       for offset, (name, per_seed) in enumerate(differences.items())}, alpha)
