"""The CTR simulator and the bandit baselines (seed 003's setting)."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from graphrec.training.rl.bandits import LinUCB, OrganicCount, features
from graphrec.training.rl.ctr_bench import compare
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


def test_linucb_beats_popularity_and_random_in_ctr_with_confidence_intervals() -> None:
    results = {r.policy: r for r in compare(["linucb", "popularity", "random"], CTRConfig(), users=600,
                                            seeds=[1, 2, 3])}
    for baseline in ("popularity", "random"):
        assert results["linucb"].ci95_low > results[baseline].ci95_high, results


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
