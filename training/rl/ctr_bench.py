"""Online CTR of the bandit policies in the CTR simulator, over several seeds with 95% confidence intervals."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import stats

from graphrec.training.names import Bandit as BanditName
from graphrec.training.rl.bandits import LinUCB, LogisticThompson, OrganicCount, Popularity, RandomPolicy, features
from graphrec.training.rl.ctr_env import CTRConfig, CTREnv

Bandit = LinUCB | LogisticThompson | OrganicCount | Popularity | RandomPolicy
POLICIES: dict[str, type[Bandit]] = {cls.name: cls for cls in (LinUCB, LogisticThompson, OrganicCount, Popularity,
                                                               RandomPolicy)}
assert set(POLICIES) == set(BanditName), "training.names.Bandit names every bandit of the simulator"


@dataclass(frozen=True)
class CTRResult:
    policy: str
    ctr: float  # mean over seeds
    ci95_low: float
    ci95_high: float
    per_seed: tuple[float, ...]


def make_policy(policy_name: str, arms: int, dim: int, seed: int) -> Bandit:
    """A fresh bandit; the ones that draw random numbers take ``seed``."""
    cls = POLICIES[policy_name]
    return cls(arms, dim, seed=seed) if cls in (LogisticThompson, RandomPolicy) else cls(arms, dim)


def run_ctr(policy_name: str, config: CTRConfig, users: int, seed: int) -> float:
    """Clicks per recommendation over ``users`` episodes, the policy learning online from the first one."""
    env = CTREnv(config)
    policy = make_policy(policy_name, config.products, config.products + 1, seed)
    clicks = shown = 0
    for user in range(users):
        views, _ = env.reset(seed=seed * 1_000_003 + user)
        if isinstance(policy, Popularity):
            policy.observe_views(views)
        done = False
        while not done:
            x = features(views)
            arm = int(np.argmax(policy.scores(x)))
            before = views
            views, reward, done, _, _ = env.step(arm)
            policy.update(x, arm, reward)
            if isinstance(policy, Popularity):
                policy.observe_views(views - before)
            clicks += reward
            shown += 1
    return clicks / shown


def compare(policies: list[str], config: CTRConfig, users: int, seeds: list[int]) -> list[CTRResult]:
    results = []
    for name in policies:
        values = np.array([run_ctr(name, config, users, seed) for seed in seeds])
        half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
        results.append(CTRResult(name, float(values.mean()), float(values.mean() - half),
                                 float(values.mean() + half), tuple(float(v) for v in values)))
    return results


def scoring_latency(policy_name: str, arms: int = 200, products: int = 10, calls: int = 2000,
                    seed: int = 0) -> dict[str, float]:
    """Milliseconds for one bandit to score ``arms`` candidates in the simulator's context (the view shares of
    ``products`` products plus a constant), after 2,000 updates: p50 and p99 over ``calls`` contexts. LinUCB
    reads every arm's (products + 1)^2 inverse per request, so its cost grows with both."""
    policy = make_policy(policy_name, arms, products + 1, seed)
    rng = np.random.default_rng(seed)
    contexts = [features(rng.poisson(1.0, products).astype(np.float64)) for _ in range(calls)]
    for x in contexts[:2000]:
        policy.update(x, int(rng.integers(arms)), float(rng.random() < 0.1))
    timings = []
    for x in contexts:
        started = time.perf_counter()
        policy.scores(x)
        timings.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(timings, 50)), "p99_ms": float(np.percentile(timings, 99))}
