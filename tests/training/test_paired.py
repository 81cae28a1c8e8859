"""Paired per-user differences with a stratified bootstrap interval (training/paired.py)."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.training.paired import paired_difference


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
