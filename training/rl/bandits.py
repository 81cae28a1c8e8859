"""Contextual bandits for the CTR simulator (the baselines of RecoGym studies): LinUCB, logistic Thompson sampling, and
the references: organic count, best fixed arm, logistic regression on organic features, popularity, random and
the oracle.

Every policy reads a context vector and returns one score per arm (the product with the highest score is
shown), then learns from (context, arm, reward). Context: the user's organic view counts, scaled to shares,
plus a constant 1 for a per-arm bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def features(views: np.ndarray) -> np.ndarray:
    total = float(views.sum())
    shares = views / total if total > 0 else views
    return np.append(shares, 1.0).astype(np.float64)


@dataclass(frozen=True)
class LinUCBConfig:
    alpha: float = 0.3  # width of the confidence bonus
    ridge: float = 1.0  # prior precision of each arm's weights


class LinUCB:
    """Li et al. (2010), disjoint arms: ridge regression per arm, score = x.theta_a + alpha sqrt(x' A_a^-1 x)."""

    name = "linucb"

    def __init__(self, arms: int, dim: int, config: LinUCBConfig | None = None) -> None:
        self.config = config or LinUCBConfig()
        self.inverse = np.stack([np.eye(dim) / self.config.ridge for _ in range(arms)])  # A_a^-1
        self.b = np.zeros((arms, dim))
        self.theta = np.zeros((arms, dim))  # A_a^-1 b_a, kept current by update()
        # Scoring reads every arm's inverse, so it reads a float32 copy: half the memory traffic (32 MB for 200
        # arms of 201 features). The updates stay in float64, where Sherman-Morrison's rounding cannot pile up.
        self._inverse_for_scoring = self.inverse.astype(np.float32)

    def scores(self, x: np.ndarray) -> np.ndarray:
        arms, dim = self.b.shape
        # A_a^-1 x for every arm as one matrix-vector product over the stacked inverses: one BLAS call in
        # float32, where an einsum over three float64 operands is several times slower.
        x32 = x.astype(np.float32)
        inverse_x = (self._inverse_for_scoring.reshape(arms * dim, dim) @ x32).reshape(arms, dim)
        width = np.sqrt(np.maximum(inverse_x @ x32, 0.0))  # rounding can leave x' A^-1 x a hair below 0
        return self.theta @ x + self.config.alpha * width.astype(np.float64)

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        # Sherman-Morrison: A^-1 after adding x x', without a matrix inverse per step.
        inverse = self.inverse[arm]
        ax = inverse @ x
        self.inverse[arm] = inverse - np.outer(ax, ax) / (1.0 + x @ ax)
        self.b[arm] += reward * x
        self.theta[arm] = self.inverse[arm] @ self.b[arm]
        self._inverse_for_scoring[arm] = self.inverse[arm]


@dataclass(frozen=True)
class ThompsonConfig:
    prior_precision: float = 1.0
    newton_steps: int = 1  # per update: the online Laplace approximation of Chapelle and Li (2011)


class LogisticThompson:
    """Logistic regression per arm with a diagonal Gaussian posterior (Laplace approximation, updated online);
    scores are the click logits of one posterior draw."""

    name = "thompson"

    def __init__(self, arms: int, dim: int, config: ThompsonConfig | None = None, seed: int = 0) -> None:
        self.config = config or ThompsonConfig()
        self.mean = np.zeros((arms, dim))
        self.precision = np.full((arms, dim), self.config.prior_precision)
        self.rng = np.random.default_rng(seed)

    def scores(self, x: np.ndarray) -> np.ndarray:
        draw = self.mean + self.rng.normal(size=self.mean.shape) / np.sqrt(self.precision)
        return draw @ x

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        mean, precision = self.mean[arm], self.precision[arm]
        previous = mean.copy()
        for _ in range(self.config.newton_steps):
            p = 1.0 / (1.0 + np.exp(-(mean @ x)))
            gradient = precision * (mean - previous) - (reward - p) * x
            hessian = precision + p * (1 - p) * x * x
            mean = mean - gradient / hessian
        p = 1.0 / (1.0 + np.exp(-(mean @ x)))
        self.mean[arm] = mean
        self.precision[arm] = precision + p * (1 - p) * x * x


class Popularity:
    """Shows the product most viewed organically by all users so far (it ignores the user)."""

    name = "popularity"

    def __init__(self, arms: int, dim: int) -> None:
        self.views = np.zeros(arms)
        self._last: np.ndarray | None = None

    def observe_views(self, views: np.ndarray) -> None:
        self.views += views

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.views.copy()

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        pass


class OrganicCount:
    """Shows the product this user has viewed most organically: RecoGym's organic count agent (Rohde et al.,
    2018), the reference a policy must beat to show it learns more than "recommend what they browse"."""

    name = "organic_count"

    def __init__(self, arms: int, dim: int) -> None:
        self.arms = arms

    def scores(self, x: np.ndarray) -> np.ndarray:
        return x[: self.arms].copy()  # the view shares; the constant feature is not an arm

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        pass


class RandomPolicy:
    name = "random"

    def __init__(self, arms: int, dim: int, seed: int = 0) -> None:
        self.arms = arms
        self.rng = np.random.default_rng(seed)

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.rng.random(self.arms)

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        pass


class BestFixedArm:
    """Shows every user the one product with the highest click probability over the population: the best a
    policy that ignores the user can do (found from the simulator's own click model, so an upper bound for
    popularity-style policies)."""

    name = "best_fixed_arm"

    def __init__(self, arms: int, dim: int, arm: int = 0) -> None:
        self.choice = np.zeros(arms)
        self.choice[arm] = 1.0

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.choice.copy()

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        pass


class LogisticOrganic:
    """Per-product logistic regressions of a click on the organic features, fit offline on a log of random
    recommendations to other users (RecoGym's likelihood agent); shows the product of highest predicted click
    probability and does not learn online."""

    name = "logistic"

    def __init__(self, arms: int, dim: int, weights: np.ndarray | None = None) -> None:
        self.weights = np.zeros((arms, dim)) if weights is None else weights

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.weights @ x  # the logits: the same order as the probabilities

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        pass


def fit_logistic(contexts: np.ndarray, arms: np.ndarray, clicks: np.ndarray, n_arms: int,
                 l2: float = 1.0) -> np.ndarray:
    """(n_arms, dim) weights: for each arm, the L2-regularised logistic regression of ``clicks`` on the
    ``contexts`` of the rows that showed it (L-BFGS)."""
    from scipy.optimize import minimize

    weights = np.zeros((n_arms, contexts.shape[1]))
    for arm in range(n_arms):
        x, y = contexts[arms == arm], clicks[arms == arm]
        if not len(x):
            continue

        def loss(w: np.ndarray, x: np.ndarray = x, y: np.ndarray = y) -> tuple[float, np.ndarray]:
            logits = x @ w
            p = 1.0 / (1.0 + np.exp(-logits))
            value = np.logaddexp(0.0, logits).sum() - y @ logits + 0.5 * l2 * w @ w
            return float(value), x.T @ (p - y) + l2 * w

        weights[arm] = minimize(loss, weights[arm], jac=True, method="L-BFGS-B").x
    return weights


class Oracle:
    """Shows the product with the current user's highest true click probability: the ceiling, with knowledge no
    policy has (the simulator sets ``probabilities`` before each choice)."""

    name = "oracle"

    def __init__(self, arms: int, dim: int) -> None:
        self.probabilities = np.zeros(arms)

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.probabilities.copy()

    def update(self, x: np.ndarray, arm: int, reward: float) -> None:
        pass
