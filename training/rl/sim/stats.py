"""The statistics of the simulator tables (Agarwal et al., NeurIPS 2021, "Deep RL at the Edge of the Statistical
Precipice"): per row the interquartile mean and the mean of the per-seed session return with stratified bootstrap
intervals over training seeds; per RL row the paired difference to the best non-RL row, per user,
with a two-level bootstrap (training seeds resampled, then the held-out users within each drawn seed: both
the training and the user variance enter the interval), and Holm's correction over the RL rows of one claim.

The IQM is rliable's (``metrics.aggregate_iqm`` is scipy's 25% trimmed mean over runs x tasks); rliable itself is
not a dependency: its bootstrap runs on ``arch``, whose 7.x releases do not import with pandas 3 and whose 8.0
refuses the ``random_state`` argument rliable 1.2 passes. With one task per table (the environment) its stratified
bootstrap is the percentile bootstrap over runs written here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

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


@dataclass(frozen=True)
class PairedTest:
    mean: float
    low: float  # the interval at the Holm-corrected level (95% before correction)
    high: float
    p_value: float  # two-sided bootstrap p, Holm-adjusted by holm()

    @property
    def beyond_noise(self) -> bool:
        return self.low > 0 or self.high < 0


def two_level_draws(differences: Sequence[np.ndarray], draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """Bootstrap means of per-user differences: each draw takes as many seeds as there are, with replacement,
    and within each drawn seed as many of its users, with replacement; the mean is over seeds of user means."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(d, dtype=np.float64) for d in differences]
    out = np.zeros(draws)
    picks = rng.integers(0, len(arrays), size=(draws, len(arrays)))
    for index, array in enumerate(arrays):
        # the mean of a resample of this seed's users, for every draw that picks the seed
        count = (picks == index).sum(1)
        total = int(count.sum())
        if not total:
            continue
        users = rng.integers(0, len(array), size=(total, len(array)))
        means = array[users].mean(1)
        out += np.bincount(np.repeat(np.arange(draws), count), weights=means, minlength=draws)
    return out / len(arrays)


def paired_tests(differences: dict[str, Sequence[np.ndarray]], alpha: float = 0.05,
                 draws: int = DRAWS) -> dict[str, PairedTest]:
    """Each row's per-user differences to the best non-RL row (a list over training seeds), tested together:
    Holm's step-down order on the bootstrap p-values; the k-th smallest p gets the interval at level
    1 - alpha / (m - k + 1), and its adjusted p is the running maximum of (m - k + 1) p."""
    raw = {}
    for offset, (name, per_seed) in enumerate(differences.items()):
        means = two_level_draws(per_seed, draws, seed=offset)
        p = min(1.0, 2 * min((means <= 0).mean(), (means >= 0).mean()))
        raw[name] = (float(np.mean([np.mean(d) for d in per_seed])), means, max(p, 1 / draws))
    order = sorted(raw, key=lambda name: raw[name][2])
    tests, running = {}, 0.0
    for rank, name in enumerate(order):
        mean, means, p = raw[name]
        factor = len(order) - rank
        running = max(running, min(1.0, factor * p))
        level = alpha / factor
        low, high = np.percentile(means, [100 * level / 2, 100 * (1 - level / 2)])
        tests[name] = PairedTest(mean, float(low), float(high), running)
    return {name: tests[name] for name in differences}
