"""GRAPHREC_POLICY=auto: an RL policy is served only when its paired difference to the best baseline is above 0."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphrec.training.rl.choice import choose_served


def record(name: str, returns: np.ndarray, baseline: bool = False, users: str = "u1",
           env: str = "logreplay") -> dict[str, Any]:
    return {"policy": name, "env": env, "baseline": baseline, "validation_return": float(returns.mean()),
            "evaluation_return": float(returns.mean()), "evaluation_returns": returns.tolist(),
            "evaluation_fingerprint": users}


def test_auto_serves_the_rl_policy_only_when_it_beats_the_strongest_baseline_beyond_the_noise() -> None:
    rng = np.random.default_rng(0)
    users = rng.normal(3.0, 1.0, 400)  # each user's own level: shared by every ranker
    greedy = users + rng.normal(0, 0.3, 400)
    quality = users + 0.2 + rng.normal(0, 0.3, 400)  # the strongest baseline
    records = {"greedy": record("greedy", greedy, True), "greedy_quality": record("greedy_quality", quality, True)}
    # Better than greedy, not better than greedy_quality: the baseline is served.
    records["ppo"] = record("ppo", users + 0.15 + rng.normal(0, 0.3, 400))
    assert choose_served(records) == ("greedy_quality", "no RL policy beats greedy_quality beyond the noise")
    # Above greedy_quality by much less than the users' spread, but beyond the paired noise: served.
    records["kgdqn"] = record("kgdqn", quality + 0.05 + rng.normal(0, 0.05, 400))
    name, why = choose_served(records)
    assert name == "kgdqn" and why.startswith("kgdqn minus greedy_quality: +0.04")
    # A better policy scored on other users (another world), or in the GAN environment, is not compared.
    records["drr"] = record("drr", quality + 1.0, users="u2")
    records["kgdqn_gan"] = record("kgdqn_gan", quality + 1.0, env="gan")
    assert choose_served(records)[0] == "kgdqn"


def test_auto_without_baseline_records_keeps_the_best_validation_return_and_greedy_without_any() -> None:
    assert choose_served({})[0] == "greedy"
    older = {"ppo": {"policy": "ppo", "validation_return": 1.0}, "drr": {"policy": "drr", "validation_return": 2.0},
             "kgdqn": {"policy": "kgdqn", "env": "gan", "validation_return": 9.0}}
    assert choose_served(older)[0] == "drr"
