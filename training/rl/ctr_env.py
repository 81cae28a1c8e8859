"""A click-through simulator in the spirit of RecoGym (Rohde et al., 2018).

Each user has a latent vector w_u ~ N(0, I_d). Products have organic embeddings G (P x d); the bandit
(recommendation) embeddings are B = G + noise, so what a user browses organically says something about what
they would click. A user first browses organically: each view picks product i with probability
softmax(G w_u)_i. Then the agent shows one product a per step; the user clicks with probability
sigmoid(click_scale B_a . w_u + click_bias). Between bandit steps the user browses again with probability
``organic_rate``.

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
    click_bias: float = -3.5  # base log-odds of a click: a random product is clicked a few percent of the time
    organic_views: int = 5  # mean views per organic session (geometric)
    organic_rate: float = 0.3  # chance of another organic session between bandit steps
    steps_per_user: int = 10
    world_seed: int = 0  # draws the catalogue; the episode seed draws users


class CTREnv(gym.Env[np.ndarray, int]):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, config: CTRConfig | None = None) -> None:
        self.config = config or CTRConfig()
        c = self.config
        world = np.random.default_rng(c.world_seed)
        self.organic = world.normal(size=(c.products, c.latent_dim))
        self.bandit = self.organic + c.embedding_noise * world.normal(size=(c.products, c.latent_dim))
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(c.products,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(c.products)
        self._user = np.zeros(c.latent_dim)
        self._views = np.zeros(c.products, dtype=np.float32)
        self._step = 0

    def click_probabilities(self) -> np.ndarray:
        """The current user's click probability for every product (for tests and oracle baselines)."""
        logits = self.config.click_scale * (self.bandit @ self._user) + self.config.click_bias
        return 1.0 / (1.0 + np.exp(-logits))

    def _browse(self) -> None:
        logits = self.organic @ self._user
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        views = self.np_random.geometric(1.0 / self.config.organic_views)
        chosen = self.np_random.choice(self.config.products, size=views, p=probabilities)
        np.add.at(self._views, chosen, 1.0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._user = self.np_random.normal(size=self.config.latent_dim)
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
