"""RecSim interest evolution (Ie et al. 2019, "RecSim: A Configurable Simulation Platform for Recommender
Systems") behind the gymnasium API, from the environment code of ``recsim-no-tf`` (Google's RecSim without
TensorFlow, on the legacy gym API).

A user has interests in 20 topic clusters (uniform in [-1, 1]) and a time budget of 200 minutes. Each step the
environment samples 10 candidate videos (a cluster each, one-hot features; a hidden quality drawn around the
cluster's mean: 14 "trashy" clusters below 0, 6 "nutritious" above); the agent shows 3; the user picks at most
one in proportion to its interest + 1 (a no-click mass of 1). A click watches 4 minutes (the reward), takes
them from the budget and gives back 0.9/3.4 * 4 * quality: nutritious videos make sessions longer, clickbait
shortens them. A click also moves the user's interest in that cluster (interest evolution). A step without a
click costs 0.5 minutes. The session ends when the budget runs out.

``frozen=True`` is the static control: the same users, but what is shown changes nothing to come: interests
stay as sampled (the step size of the interest update is 0; its random draw still happens, so the users' draws
stay those of the reactive environment) and quality gives no time back (``user_update_alpha`` 0). Its budget
still falls by 4 per click and 0.5 per miss, so maximising each step's click probability is optimal there.

Reproducibility: the package draws its users and documents from seeded samplers, and the user's choice and
interest updates from ``np.random``, NumPy's global generator. ``reset(seed=s)`` reseeds the samplers with ``s``
and gives this environment its own generator seeded with ``s``; the package's two modules see, as their ``np``, a
view of NumPy whose ``random`` is the generator of the environment being stepped. So one user's session depends
only on its seed and the slates shown, whatever other environments do in between, and copying the global
generator's state around each call (150 us, as long as the step itself) is not needed.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

CANDIDATES = 10
SLATE_SIZE = 3
TOPICS = 20  # IEvVideo.NUM_FEATURES


class _NumpyView(ModuleType):
    """NumPy, except that ``random`` is whatever generator was set last (NumPy's global one by default)."""

    def __init__(self) -> None:
        super().__init__("numpy")
        self.random: Any = np.random

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


_NUMPY_VIEW = _NumpyView()


def create_raw_environment(seed: int = 0) -> Any:
    """The package's own environment (RecSimGymEnv on the legacy gym API), as RLlib's SlateQ example builds it."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")  # gym 0.26 announces that it is unmaintained on import
        from recsim.environments import interest_evolution
    return interest_evolution.create_environment({"num_candidates": CANDIDATES, "slate_size": SLATE_SIZE,
                                                  "resample_documents": True, "seed": seed})


@contextlib.contextmanager
def generator_of(rng: np.random.RandomState) -> Iterator[None]:
    """Within the block the package's draws (choices, interest updates) come from ``rng``."""
    from recsim import choice_model
    from recsim.environments import interest_evolution

    choice_model.np = interest_evolution.np = _NUMPY_VIEW  # type: ignore[attr-defined]
    _NUMPY_VIEW.random = rng
    try:
        yield
    finally:
        _NUMPY_VIEW.random = np.random


class InterestEvolutionEnv(gym.Env):
    """RecSim interest evolution as a gymnasium environment.

    Observation: ``user`` (20,) the user's interests (observable in RecSim), ``doc`` (10, 20) the candidates'
    features, ``response`` (3, 3) per shown video [click, watch time, quality] of the last step (zeros after
    reset). Action: 3 distinct candidate positions. Reward: minutes watched. ``info`` holds the candidates'
    clusters and, for the oracle only, the true click scores of the candidates (``relevance``)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's convention)

    def __init__(self, frozen: bool = False) -> None:
        self.frozen = frozen
        self.raw = create_raw_environment()
        self.rng = np.random.RandomState(0)
        self.observation_space = spaces.Dict({
            "user": spaces.Box(-1.0, 1.0, (TOPICS,), np.float64),
            "doc": spaces.Box(-1.0, 1.0, (CANDIDATES, TOPICS), np.float64),
            "response": spaces.Box(-np.inf, np.inf, (SLATE_SIZE, 3), np.float64)})
        self.action_space = spaces.MultiDiscrete([CANDIDATES] * SLATE_SIZE)

    @property
    def user_state(self) -> Any:
        return self.raw._environment.user_model._user_state

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if seed is not None:
            environment = self.raw._environment
            environment._document_sampler._seed = seed
            environment.user_model._user_sampler._seed = seed
            self.raw.reset_sampler()
            self.rng = np.random.RandomState(seed)
        with generator_of(self.rng):
            observation = self.raw.reset()
        if self.frozen:
            self.user_state.user_update_alpha = 0.0  # quality gives no time back
            self.raw._environment.user_model._alpha_y_intercept = 0.0  # interest steps of size 0
        return self._observation(observation), self._info(observation)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        slate = [int(position) for position in action]
        if len(set(slate)) != len(slate):
            raise ValueError(f"a slate shows distinct candidates; got positions {slate}")
        with generator_of(self.rng):
            observation, reward, done, _ = self.raw.step(slate)
        return self._observation(observation), float(reward), bool(done), False, self._info(observation)

    def _observation(self, raw: dict) -> dict:
        response = np.zeros((SLATE_SIZE, 3))
        for position, answer in enumerate(raw["response"] or ()):
            response[position] = [answer["click"], float(answer["watch_time"]), float(answer["quality"])]
        return {"user": np.asarray(raw["user"], dtype=np.float64).copy(),
                "doc": np.stack(list(raw["doc"].values())), "response": response}

    def _info(self, raw: dict) -> dict:
        documents = self.raw._environment.candidate_set.get_documents(list(raw["doc"]))
        return {"clusters": np.array([document.cluster_id for document in documents]),
                "relevance": np.stack(list(raw["doc"].values())) @ self.user_state.user_interests}
