"""The bandits against the references in the CTR simulator, over several worlds, with paired intervals.

Each world seed draws a catalogue and a user population (training/rl/ctr_env.py); every policy meets the same
users of a world in the same order, so policies are compared user by user (training.paired: users resampled
within each world, worlds averaged). The learners' knobs (LinUCB's alpha, Thompson's prior precision) and the
choice of the strongest reference are made on other worlds (``TUNING_WORLDS``), never on the worlds reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from graphrec.training.names import Bandit as BanditName
from graphrec.training.rl.bandits import (
    BestFixedArm,
    LinUCB,
    LinUCBConfig,
    LogisticOrganic,
    LogisticThompson,
    Oracle,
    OrganicCount,
    Popularity,
    RandomPolicy,
    ThompsonConfig,
    features,
    fit_logistic,
)
from graphrec.training.rl.ctr_env import CTRConfig, CTREnv
from graphrec.training.rl.tables import PolicyResult, paired_rows

Bandit = LinUCB | LogisticThompson | OrganicCount | BestFixedArm | LogisticOrganic | Popularity | RandomPolicy | Oracle
POLICIES: dict[str, type[Bandit]] = {cls.name: cls for cls in (
    LinUCB, LogisticThompson, OrganicCount, BestFixedArm, LogisticOrganic, Popularity, RandomPolicy, Oracle)}
assert set(POLICIES) == set(BanditName), "training.names.Bandit names every bandit of the simulator"
LEARNERS = ("linucb", "thompson")
REFERENCES = ("organic_count", "best_fixed_arm", "logistic", "popularity", "random")  # oracle: a ceiling
TUNING_WORLDS = (101, 102, 103)
LINUCB_ALPHAS = (0.03, 0.1, 0.3, 1.0)
THOMPSON_PRIORS = (0.3, 1.0, 3.0, 10.0)
LOG_USERS = 2_000  # users of the random-recommendation log the logistic reference is fit on
POPULATION_SAMPLE = 20_000  # users drawn to find the best fixed arm
LOG_SEED_OFFSET = 2**40  # episode seeds of the logged users: never those of the evaluated users


def world(config: CTRConfig, world_seed: int) -> CTREnv:
    return CTREnv(replace(config, world_seed=world_seed))


def best_fixed_arm(env: CTREnv, seed: int) -> int:
    """The product of highest mean click probability over users drawn from the world's population."""
    users = env.draw_users(np.random.default_rng([seed, 1]), POPULATION_SAMPLE)
    return int(np.argmax(env.click_probabilities_of(users).mean(axis=0)))


def logged_weights(env: CTREnv, seed: int, users: int = LOG_USERS) -> np.ndarray:
    """The logistic reference's weights, fit on a log of uniformly random recommendations to users other than
    the evaluated ones (episode seeds of their own)."""
    rng = np.random.default_rng([seed, 2])
    contexts, arms, clicks = [], [], []
    for user in range(users):
        views, _ = env.reset(seed=LOG_SEED_OFFSET + seed * 1_000_003 + user)
        done = False
        while not done:
            arm = int(rng.integers(env.config.products))
            contexts.append(features(views))
            arms.append(arm)
            views, reward, done, _, _ = env.step(arm)
            clicks.append(reward)
    return fit_logistic(np.array(contexts), np.array(arms), np.array(clicks), env.config.products)


def make_policy(policy_name: str, env: CTREnv, seed: int, knobs: dict[str, Any] | None = None) -> Bandit:
    """A fresh policy for ``env``'s world; ``knobs`` holds the learners' tuned configs by name."""
    arms, dim = env.config.products, env.config.products + 1
    knobs = knobs or {}
    if policy_name == "linucb":
        return LinUCB(arms, dim, knobs.get("linucb"))
    if policy_name == "thompson":
        return LogisticThompson(arms, dim, knobs.get("thompson"), seed=seed)
    if policy_name == "random":
        return RandomPolicy(arms, dim, seed=seed)
    if policy_name == "best_fixed_arm":
        return BestFixedArm(arms, dim, best_fixed_arm(env, seed))
    if policy_name == "logistic":
        return LogisticOrganic(arms, dim, logged_weights(env, seed))
    if policy_name not in POLICIES:
        raise KeyError(f"unknown CTR policy {policy_name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[policy_name](arms, dim)  # type: ignore[call-arg]


def run_ctr(policy_name: str, config: CTRConfig, users: int, seed: int,
            knobs: dict[str, Any] | None = None) -> np.ndarray:
    """Clicks of each of ``users`` episodes in world ``seed``, the policy learning online from the first one."""
    env = world(config, seed)
    policy = make_policy(policy_name, env, seed, knobs)
    clicks = np.zeros(users)
    for user in range(users):
        views, _ = env.reset(seed=seed * 1_000_003 + user)
        if isinstance(policy, Popularity):
            policy.observe_views(views)
        done = False
        while not done:
            x = features(views)
            if isinstance(policy, Oracle):
                policy.probabilities = env.click_probabilities()
            arm = int(np.argmax(policy.scores(x)))
            before = views
            views, reward, done, _, _ = env.step(arm)
            policy.update(x, arm, reward)
            if isinstance(policy, Popularity):
                policy.observe_views(views - before)
            clicks[user] += reward
    return clicks


@dataclass(frozen=True)
class Tuning:
    """What the tuning worlds chose: the learners' configs and the strongest reference."""

    knobs: dict[str, Any]
    baseline: str
    ctr: dict[str, float]  # mean CTR on the tuning worlds of every candidate tried


def tune(config: CTRConfig, users: int, worlds: tuple[int, ...] = TUNING_WORLDS,
         references: tuple[str, ...] = REFERENCES) -> Tuning:
    """LinUCB's alpha and Thompson's prior of best mean CTR over ``worlds``, and the reference of best CTR there."""
    steps = config.steps_per_user

    def ctr(name: str, knobs: dict[str, Any] | None = None) -> float:
        return float(np.mean([run_ctr(name, config, users, w, knobs).mean() / steps for w in worlds]))

    tried = {f"linucb alpha={a}": ctr("linucb", {"linucb": LinUCBConfig(alpha=a)}) for a in LINUCB_ALPHAS}
    tried |= {f"thompson prior={p}": ctr("thompson", {"thompson": ThompsonConfig(prior_precision=p)})
              for p in THOMPSON_PRIORS}
    alpha = max(LINUCB_ALPHAS, key=lambda a: tried[f"linucb alpha={a}"])
    prior = max(THOMPSON_PRIORS, key=lambda p: tried[f"thompson prior={p}"])
    tried |= {name: ctr(name) for name in references}
    baseline = max(references, key=lambda name: tried[name])
    return Tuning({"linucb": LinUCBConfig(alpha=alpha), "thompson": ThompsonConfig(prior_precision=prior)},
                  baseline, tried)


def ctr_results(policies: list[str], seeds: list[int], users: int = 2000, config: CTRConfig | None = None,
                tuning: Tuning | None = None) -> list[PolicyResult]:
    """A row per policy over the world ``seeds``: return = clicks per episode with its bootstrap interval, CTR,
    and the paired difference to the strongest reference (chosen, with the learners' knobs, on the tuning worlds
    unless ``tuning`` is given)."""
    config = config or CTRConfig()
    tuning = tuning or tune(config, users, references=tuple(p for p in policies if p in REFERENCES))
    values = {name: [run_ctr(name, config, users, seed, tuning.knobs) for seed in seeds] for name in policies}
    rows = paired_rows(values, tuning.baseline if tuning.baseline in values else None, env="ctr",
                       dataset="ctr-simulator", split_seeds=seeds)
    for row in rows:
        row.ctr = row.mean_return / config.steps_per_user
    return rows


def scoring_latency(policy_name: str, arms: int = 200, products: int = 10, calls: int = 2000,
                    seed: int = 0) -> dict[str, float]:
    """Milliseconds for one bandit to score ``arms`` candidates in the simulator's context (the view shares of
    ``products`` products plus a constant), after 2,000 updates: p50 and p99 over ``calls`` contexts. LinUCB
    reads every arm's (products + 1)^2 inverse per request, so its cost grows with both."""
    dim = products + 1
    policy = LinUCB(arms, dim) if policy_name == "linucb" else LogisticThompson(arms, dim, seed=seed)
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
