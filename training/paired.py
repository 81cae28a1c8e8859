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


def nested_bootstrap(differences: Sequence[np.ndarray], ids: Sequence[np.ndarray] | None = None, *,
                     draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """``draws`` bootstrap means of per-user differences over seeds, where the seeds themselves are a sample (of
    training runs or splits): each draw resamples the seeds with replacement, then the users, and averages the
    drawn seeds' user means. Without ``ids`` each seed's users are their own population and are resampled
    within it. With ``ids`` (each seed's user ids) a user who recurs in several seeds is one cluster: one
    resample of all the ids weighs that user alike in every seed (Davison & Hinkley, Bootstrap Methods and their
    Application, 1997, section 3.8, resampling the top level of a hierarchy), so the interval does not count the
    same user's seeds as independent evidence."""
    arrays = [np.asarray(d, dtype=np.float64) for d in differences]
    if not arrays or any(a.ndim != 1 or not len(a) for a in arrays):
        raise ValueError("nested_bootstrap needs one non-empty 1-d array of differences per seed")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(arrays), size=(draws, len(arrays)))
    per_seed = np.zeros((draws, len(arrays)))
    if ids is None:
        for index, array in enumerate(arrays):
            for start in range(0, draws, CHUNK):
                size = min(CHUNK, draws - start)
                users = rng.integers(0, len(array), size=(size, len(array)))
                per_seed[start:start + size, index] = array[users].mean(1)
    else:
        if len(ids) != len(arrays) or any(len(i) != len(a) for i, a in zip(ids, arrays, strict=True)):
            raise ValueError("nested_bootstrap needs one id per difference, seed by seed")
        universe, inverse = np.unique(np.concatenate([np.asarray(i) for i in ids]), return_inverse=True)
        columns = np.split(inverse, np.cumsum([len(a) for a in arrays])[:-1])
        for start in range(0, draws, CHUNK):
            size = min(CHUNK, draws - start)
            weights = rng.multinomial(len(universe), np.full(len(universe), 1 / len(universe)), size=size)
            for index, (array, column) in enumerate(zip(arrays, columns, strict=True)):
                drawn = weights[:, column]
                total = drawn.sum(1)
                per_seed[start:start + size, index] = np.where(
                    total > 0, drawn @ array / np.maximum(total, 1), array.mean())
    return np.take_along_axis(per_seed, picks, axis=1).mean(1)


@dataclass(frozen=True)
class HolmTest:
    """One row's mean difference, its interval at the Holm-corrected level and its Holm-adjusted p."""

    mean: float
    low: float
    high: float
    p_value: float

    @property
    def beyond_noise(self) -> bool:
        return self.low > 0 or self.high < 0


def holm_tests(bootstraps: dict[str, tuple[float, np.ndarray]], alpha: float = 0.05) -> dict[str, HolmTest]:
    """Rows of one claim tested together (Holm 1979): ``bootstraps`` maps a row to (its mean difference, its
    bootstrap means). Two-sided bootstrap p-values are ordered; the k-th smallest of m gets the interval at level
    1 - alpha / (m - k + 1) and the adjusted p max_{j <= k} min(1, (m - j + 1) p_j)."""
    raw = {}
    for name, (mean, means) in bootstraps.items():
        p = min(1.0, 2 * min(float((means <= 0).mean()), float((means >= 0).mean())))
        raw[name] = (mean, means, max(p, 1 / len(means)))
    order = sorted(raw, key=lambda name: raw[name][2])
    tests, running = {}, 0.0
    for rank, name in enumerate(order):
        mean, means, p = raw[name]
        factor = len(order) - rank
        running = max(running, min(1.0, factor * p))
        level = alpha / factor
        low, high = np.percentile(means, [100 * level / 2, 100 * (1 - level / 2)])
        tests[name] = HolmTest(mean, float(low), float(high), running)
    return {name: tests[name] for name in bootstraps}


def clustered_mean(values: Sequence[np.ndarray], ids: Sequence[np.ndarray] | None) -> PairedDifference:
    """The mean of per-user values over seeds with its 95% interval: nested_bootstrap's with ``ids`` (users who
    recur across seeds are clusters), mean_interval's without."""
    if ids is None:
        return mean_interval(values)
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    low, high = np.percentile(nested_bootstrap(arrays, ids), [2.5, 97.5])
    return PairedDifference(float(np.mean([a.mean() for a in arrays])), float(low), float(high))


def clustered_difference(policy: Sequence[np.ndarray], baseline: Sequence[np.ndarray],
                         ids: Sequence[np.ndarray] | None) -> PairedDifference:
    """paired_difference, with nested_bootstrap's clustered interval when ``ids`` are given."""
    if ids is None:
        return paired_difference(policy, baseline)
    return clustered_mean([np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
                           for a, b in zip(policy, baseline, strict=True)], ids)
