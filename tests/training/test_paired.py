"""Paired per-user differences with a stratified bootstrap interval (training/paired.py)."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.training.paired import holm_tests, nested_bootstrap, paired_difference


def test_a_constant_gap_has_an_interval_of_no_width() -> None:
    rng = np.random.default_rng(1)
    baseline = [rng.random(50), rng.random(80)]
    found = paired_difference([b + 0.02 for b in baseline], baseline, draws=500)
    assert found.mean == pytest.approx(0.02)
    assert found.ci95_low == pytest.approx(0.02) and found.ci95_high == pytest.approx(0.02)
    assert found.above_zero


def test_user_variance_cancels_in_the_pairs() -> None:
    """Users differ a lot and the policy is better by a little for each: the paired interval sees the gap, which
    each ranker's own spread would hide."""
    rng = np.random.default_rng(2)
    seeds = [rng.normal(0.5, 0.3, 400) for _ in range(3)]
    policy = [users + rng.normal(0.01, 0.01, len(users)) for users in seeds]
    found = paired_difference(policy, seeds, draws=2_000)
    assert found.above_zero
    assert found.ci95_low < 0.01 < found.ci95_high


def test_noise_around_zero_is_not_a_gap() -> None:
    rng = np.random.default_rng(3)
    baseline = [rng.random(300) for _ in range(3)]
    policy = [users + rng.normal(0, 0.05, len(users)) for users in baseline]
    found = paired_difference(policy, baseline, draws=2_000)
    assert found.ci95_low < 0 < found.ci95_high
    assert not found.above_zero


def test_every_seed_weighs_the_same_whatever_its_users() -> None:
    found = paired_difference([np.ones(10), np.zeros(1_000)], [np.zeros(10), np.zeros(1_000)], draws=200)
    assert found.mean == pytest.approx(0.5)


def test_the_same_seed_draws_the_same_interval() -> None:
    rng = np.random.default_rng(4)
    baseline, policy = [rng.random(100)], [rng.random(100)]
    assert paired_difference(policy, baseline, seed=7, draws=300) == paired_difference(policy, baseline, seed=7,
                                                                                        draws=300)


@pytest.mark.parametrize(("policy", "baseline", "message"), [
    ([], [], "same non-zero number of seeds"),
    ([np.ones(3)], [np.ones(3), np.ones(3)], "same non-zero number of seeds"),
    ([np.ones(3)], [np.ones(4)], "seed 0"),
    ([np.ones(0)], [np.ones(0)], "seed 0"),
])
def test_unpaired_values_are_refused(policy: list, baseline: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paired_difference(policy, baseline)


def test_nested_bootstrap_of_a_constant_gap_is_that_gap() -> None:
    draws = nested_bootstrap([np.full(30, 0.5), np.full(40, 0.5)], [np.arange(30), np.arange(40)], draws=200)
    np.testing.assert_allclose(draws, 0.5)


def test_a_user_who_recurs_in_every_seed_is_one_cluster() -> None:
    """Three seeds of the same 400 users, each user's difference the same in every seed: the seeds add no
    evidence, so the clustered interval is as wide as one seed's. Taking the seeds' users as independent makes
    it narrower: by sqrt(5/9), 0.75, with the three seeds resampled (a seed drawn twice counts one draw twice)."""
    rng = np.random.default_rng(1)
    gaps = rng.normal(0.1, 1.0, 400)
    users = rng.permutation(400)
    seeds, ids = [gaps[users], gaps, gaps[::-1]], [users, np.arange(400), np.arange(400)[::-1]]

    def width(draws: np.ndarray) -> float:
        low, high = np.percentile(draws, [2.5, 97.5])
        return float(high - low)

    one = width(nested_bootstrap([gaps], [np.arange(400)], draws=4_000))
    clustered = width(nested_bootstrap(seeds, ids, draws=4_000))
    independent = width(nested_bootstrap(seeds, draws=4_000))
    assert 0.9 < clustered / one < 1.1
    assert 0.65 < independent / one < 0.85


def test_seed_to_seed_variance_enters_the_nested_interval() -> None:
    """Every user of a seed has the seed's gap: the interval is the bootstrap of the seeds' gaps."""
    seeds = [np.full(50, gap) for gap in (-1.0, 0.0, 1.0, 2.0)]
    draws = nested_bootstrap(seeds, [np.arange(50)] * 4, draws=4_000)
    low, high = np.percentile(draws, [2.5, 97.5])
    assert low < 0 < high and np.mean(draws) == pytest.approx(0.5, abs=0.05)


def test_holm_orders_the_rows_and_widens_all_but_the_last() -> None:
    rng = np.random.default_rng(2)
    rows = {"clear": (1.0, rng.normal(1.0, 0.1, 4_000)), "weak": (0.15, rng.normal(0.15, 0.1, 4_000)),
            "none": (0.0, rng.normal(0.0, 0.1, 4_000))}
    tests = holm_tests(rows)
    assert tests["clear"].beyond_noise and not tests["none"].beyond_noise
    assert tests["clear"].p_value <= tests["weak"].p_value <= tests["none"].p_value
    # the smallest p is tested at alpha / 3: its interval is wider than the plain 95% one
    plain_low = np.percentile(rows["clear"][1], 2.5)
    assert tests["clear"].low < plain_low
