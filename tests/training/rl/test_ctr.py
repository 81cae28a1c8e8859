"""The CTR simulator and the bandit baselines (seed 003's setting)."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from graphrec.training.rl.bandits import LinUCB, LinUCBConfig, OrganicCount, ThompsonConfig, features, fit_logistic
from graphrec.training.rl.ctr_bench import LINUCB_ALPHAS, Tuning, ctr_results, tune
from graphrec.training.rl.ctr_env import CTRConfig, CTREnv


# View counts have no upper bound, which the checker flags as "probably too high".
@pytest.mark.filterwarnings("ignore:.*Box observation space maximum value is infinity")
def test_the_simulator_follows_the_gymnasium_api_and_is_seeded() -> None:
    env = CTREnv()
    check_env(env, skip_render_check=True)
    first, _ = env.reset(seed=5)
    again, _ = CTREnv().reset(seed=5)
    assert np.array_equal(first, again) and first.sum() >= 1


def test_linucb_learns_a_single_best_arm() -> None:
    policy = LinUCB(arms=3, dim=2)
    x = np.array([0.0, 1.0])
    rng = np.random.default_rng(0)
    for _ in range(300):
        arm = int(np.argmax(policy.scores(x)))
        policy.update(x, arm, float(rng.random() < (0.8 if arm == 2 else 0.1)))
    assert int(np.argmax(policy.scores(x))) == 2
    assert features(np.array([3.0, 1.0])).tolist() == [0.75, 0.25, 1.0]


def test_the_table_pairs_every_policy_with_the_strongest_reference_over_worlds() -> None:
    tuning = Tuning({"linucb": LinUCBConfig(alpha=0.1), "thompson": ThompsonConfig()}, "organic_count", {})
    names = ["linucb", "organic_count", "best_fixed_arm", "popularity", "random", "oracle"]
    rows = {r.policy: r for r in ctr_results(names, [1, 2, 3], users=400, tuning=tuning)}
    assert {r.baseline for r in rows.values()} == {"organic_count"} and rows["organic_count"].paired_diff == 0
    for name, row in rows.items():
        assert row.split_seeds == [1, 2, 3] and row.ci95_low <= row.mean_return <= row.ci95_high, name
        assert row.ctr == pytest.approx(row.mean_return / CTRConfig().steps_per_user)
    # Users differ by taste: whoever reads the user beats one product for all, and nothing beats the oracle.
    assert rows["oracle"].paired_ci95_low > 0 and rows["best_fixed_arm"].paired_ci95_high < 0
    assert rows["linucb"].ci95_low > rows["random"].ci95_high
    assert all(rows["oracle"].mean_return >= row.mean_return for row in rows.values())


def test_tuning_uses_other_worlds_and_keeps_the_best_knob_and_reference() -> None:
    tuning = tune(CTRConfig(), users=150, worlds=(101,), references=("organic_count", "random"))
    alphas = {key: value for key, value in tuning.ctr.items() if key.startswith("linucb")}
    assert len(alphas) == len(LINUCB_ALPHAS) and f"linucb alpha={tuning.knobs['linucb'].alpha}" == max(
        alphas, key=alphas.__getitem__)
    assert tuning.baseline == max(("organic_count", "random"), key=tuning.ctr.__getitem__)


def test_the_logistic_reference_learns_which_context_makes_each_arm_clicked() -> None:
    rng = np.random.default_rng(0)
    contexts = np.column_stack([rng.random(4000), np.ones(4000)])
    arms = rng.integers(0, 2, 4000)
    # arm 0 is clicked when the feature is high, arm 1 when it is low
    logits = np.where(arms == 0, 6 * contexts[:, 0] - 3, 3 - 6 * contexts[:, 0])
    clicks = (rng.random(4000) < 1 / (1 + np.exp(-logits))).astype(float)
    weights = fit_logistic(contexts, arms, clicks, 2, l2=0.1)
    assert weights[0, 0] > 3 and weights[1, 0] < -3


def test_linucb_scores_are_the_textbook_formula_after_updates() -> None:
    arms, dim = 4, 3
    policy = LinUCB(arms, dim)
    rng = np.random.default_rng(1)
    designs, rewards = [np.eye(dim) for _ in range(arms)], [np.zeros(dim) for _ in range(arms)]
    for _ in range(50):
        x, arm, reward = rng.random(dim), int(rng.integers(arms)), float(rng.random() < 0.3)
        policy.update(x, arm, reward)
        designs[arm] += np.outer(x, x)
        rewards[arm] += reward * x
    x = rng.random(dim)
    expected = [np.linalg.solve(a, b) @ x + policy.config.alpha * np.sqrt(x @ np.linalg.solve(a, x))
                for a, b in zip(designs, rewards, strict=True)]
    assert np.allclose(policy.scores(x), expected)


def test_organic_count_shows_the_product_the_user_viewed_most() -> None:
    policy = OrganicCount(arms=3, dim=4)
    assert int(np.argmax(policy.scores(features(np.array([1.0, 4.0, 2.0]))))) == 1
    assert len(policy.scores(features(np.zeros(3)))) == 3
