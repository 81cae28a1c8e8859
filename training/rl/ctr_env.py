"""A click-through simulator in the spirit of RecoGym (Rohde et al., 2018).

Users' tastes are not one symmetric cloud: each user belongs to one of ``taste_clusters`` groups, with
Zipf-skewed shares (a few tastes dominate), and their latent vector is the group's centre plus noise; products
have a popularity offset added to every user's log-odds. So there is a best product for the population (what a
fixed arm or popularity can find) and a better one for each group and user (what a contextual policy can find).
Products have organic embeddings G (P x d); the bandit (recommendation) embeddings are B = G + noise, so what
a user browses organically says something about what they would click. A user first browses organically: each
view picks product i with probability softmax(G w_u + p)_i. Then the agent shows one product a per step; the
user clicks with probability sigmoid(click_scale B_a . w_u + p_a + click_bias). Between bandit steps the user
browses again with probability ``organic_rate``. ``world_seed`` draws the catalogue and the population, the
episode seed draws a user from it.

Observation: the user's organic view counts so far (float32, one per product). Action: the product shown.
Reward: 1 for a click, else 0. An episode is one user's ``steps_per_user`` bandit steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class CTRConfig:
    products: int = 10  # P, the catalogue size (RecoGym's seed experiment used 10)
    latent_dim: int = 5  # d
    embedding_noise: float = 0.5  # B = G + noise: how far clicks drift from organic taste
    click_scale: float = 0.5  # how strongly taste moves the click log-odds
    click_bias: float = -4.0  # base log-odds of a click: a random product is clicked a few percent of the time
    organic_views: int = 5  # mean views per organic session (geometric)
    organic_rate: float = 0.3  # chance of another organic session between bandit steps
    steps_per_user: int = 10
    taste_clusters: int = 4  # groups of users with a shared taste centre
    cluster_spread: float = 0.5  # a user's distance from their group's centre, per latent dimension
    cluster_skew: float = 1.0  # Zipf exponent of the groups' shares
    popularity_spread: float = 0.5  # standard deviation of the products' log-odds offsets
    world_seed: int = 0  # draws the catalogue and the population; the episode seed draws users


class CTREnv(gym.Env[np.ndarray, int]):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, config: CTRConfig | None = None) -> None:
        self.config = config or CTRConfig()
        c = self.config
        world = np.random.default_rng(c.world_seed)
        self.organic = world.normal(size=(c.products, c.latent_dim))
        self.bandit = self.organic + c.embedding_noise * world.normal(size=(c.products, c.latent_dim))
        self.popularity = c.popularity_spread * world.normal(size=c.products)
        self.centres = world.normal(size=(c.taste_clusters, c.latent_dim))
        shares = 1.0 / np.arange(1, c.taste_clusters + 1) ** c.cluster_skew
        self.cluster_shares = shares / shares.sum()
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(c.products,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(c.products)
        self._user = np.zeros(c.latent_dim)
        self._views = np.zeros(c.products, dtype=np.float32)
        self._step = 0

    def click_probabilities(self) -> np.ndarray:
        """The current user's click probability for every product (for tests and oracle baselines)."""
        return self.click_probabilities_of(self._user)

    def click_probabilities_of(self, user: np.ndarray) -> np.ndarray:
        """Click probabilities of latent user vector(s) ``user`` ((d,) or (n, d)) for every product."""
        logits = self.config.click_scale * (user @ self.bandit.T) + self.popularity + self.config.click_bias
        return 1.0 / (1.0 + np.exp(-logits))

    def draw_users(self, rng: np.random.Generator, count: int | None = None) -> np.ndarray:
        """Latent vectors of users drawn from the population: a group by its share, then noise around it."""
        c = self.config
        groups = rng.choice(c.taste_clusters, size=count, p=self.cluster_shares)
        return self.centres[groups] + c.cluster_spread * rng.normal(size=(*np.shape(groups), c.latent_dim))

    def _browse(self) -> None:
        logits = self.organic @ self._user + self.popularity
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        views = self.np_random.geometric(1.0 / self.config.organic_views)
        chosen = self.np_random.choice(self.config.products, size=views, p=probabilities)
        np.add.at(self._views, chosen, 1.0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._user = self.draw_users(self.np_random)
        self._views = np.zeros(self.config.products, dtype=np.float32)
        self._step = 0
        self._browse()
        return self._views.copy(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not a product index in [0, {self.config.products})")
        clicked = bool(self.np_random.random() < self.click_probabilities()[action])
        self._step += 1
        if self.np_random.random() < self.config.organic_rate:
            self._browse()
        done = self._step >= self.config.steps_per_user
        return self._views.copy(), float(clicked), done, False, {"clicked": clicked}
