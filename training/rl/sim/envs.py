"""The published reactive simulators our policies are measured in, each beside its static control, behind one
batched interface (SimBatch) that the policies, the baselines and the training loops share.

- SARDINE (Deffayet et al., ACM TORS 2024; ``sardine-rec``, after GeMS, WSDM 2023): 1,000 items over 10 topics,
  users with hidden interests in 3-5 topics, position-biased clicks. ``SlateTopK-Bored-v0`` shows 10 of the
  1,000 items for 100 steps; a user who clicked 5 items of one topic among their last 10 clicks of the last 5
  steps is bored and clicks nothing for 5 steps. Its control is the same environment with the boredom
  threshold at 11, which 10 remembered clicks never reach. ``SlateRerank-{Static,Bored}-v0`` order the same 10
  items for 10 steps (boredom at 4 clicks of a topic in the bored one, never in the static one).
- RecSim interest evolution (Ie et al. 2019), training.rl.sim.recsim_env: 10 fresh candidates a step, 3 shown,
  and its control with interests frozen and quality giving no time back.

What a policy sees (SimBatch): an item table (SARDINE: the environment's own item embeddings, the "ideal"
embeddings of GeMS's TopK baselines; RecSim: one row per topic cluster, one-hot, since a candidate's features are
its cluster), each user's candidate rows, the rows of their last ``history`` clicks newest first, and a user
vector (SARDINE: the normalised sum of the embeddings of the episode's clicked items, the only trace of the
hidden interests; RecSim: the observed interests). ``context`` is the rest of the observation (SARDINE's
recent-topic histogram; RecSim: the quality of each cluster seen so far in the session, NaN where unseen).
``relevance`` is the environment's true click relevance of each candidate: only the oracle may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from graphrec.training.names import SIMULATORS
from graphrec.training.rl.sim import recsim_env


@dataclass(frozen=True)
class SimSpec:
    """One environment: its name here, how to build it, and its pair (the reactive one and its control)."""

    name: str
    family: str  # sardine | recsim
    pair: str
    reactive: bool
    env_id: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)

    def make(self) -> Any:
        if self.family == "recsim":
            return recsim_env.InterestEvolutionEnv(frozen=not self.reactive)
        import sardine  # noqa: F401  (registers the sardine/ environments)

        return gym.make(self.env_id, **self.kwargs).unwrapped


SPECS: dict[str, SimSpec] = {spec.name: spec for spec in (
    SimSpec("sardine-topk-bored", "sardine", "sardine-topk", True, "sardine/SlateTopK-Bored-v0"),
    SimSpec("sardine-topk-static", "sardine", "sardine-topk", False, "sardine/SlateTopK-Bored-v0",
            {"boredom_threshold": 11}),
    SimSpec("sardine-rerank-bored", "sardine", "sardine-rerank", True, "sardine/SlateRerank-Bored-v0"),
    SimSpec("sardine-rerank-static", "sardine", "sardine-rerank", False, "sardine/SlateRerank-Static-v0"),
    SimSpec("recsim-ie", "recsim", "recsim-ie", True),
    SimSpec("recsim-ie-frozen", "recsim", "recsim-ie", False),
)}
PAIRS = tuple(dict.fromkeys(spec.pair for spec in SPECS.values()))
assert set(SPECS) == set(SIMULATORS), "training.names.PolicyEnv names every simulator"


@dataclass(frozen=True)
class ItemSpace:
    """The rows policies score: embeddings (N, d), each row's main topic, and its topic memberships (the
    entities KG-DQN's knowledge graph links items through)."""

    vectors: np.ndarray
    topics: np.ndarray
    entities: np.ndarray

    @classmethod
    def of(cls, env: Any) -> ItemSpace:
        if isinstance(env, recsim_env.InterestEvolutionEnv):
            eye = np.eye(recsim_env.TOPICS, dtype=np.float32)
            return cls(eye, np.arange(recsim_env.TOPICS), eye)
        vectors = np.asarray(env.item_embedd, dtype=np.float32)
        member = (vectors > 0).astype(np.float32)
        return cls(vectors, np.asarray(env.item_comp), member / member.sum(1, keepdims=True).clip(min=1))


class SimBatch:
    """B users of one environment played in lockstep, user i reset with ``seeds[i]``; users whose session ended
    stay inactive (zero reward) until the batch is done. ``step`` takes each user's slate as positions into their
    candidate rows (B, k)."""

    def __init__(self, spec: SimSpec, seeds: np.ndarray, history: int = 10,
                 envs: list[Any] | None = None) -> None:
        self.spec = spec
        self.seeds = np.asarray(seeds, dtype=np.int64)
        size = len(self.seeds)
        self.envs: list[Any] = envs if envs is not None else [spec.make() for _ in range(size)]
        self.items = ItemSpace.of(self.envs[0])
        self.slate_size = len(self.envs[0].action_space.nvec)
        self.history = np.full((size, history), -1, dtype=np.int64)
        dim = self.items.vectors.shape[1]
        self.clicked_sum = np.zeros((size, dim), dtype=np.float32)
        self.active = np.ones(size, dtype=bool)
        self.steps = np.zeros(size, dtype=np.int64)
        self._observations: list[dict] = [{}] * size
        self._infos: list[dict] = [{}] * size
        self.quality_sum = np.zeros((size, len(self.items.vectors)))
        self.quality_count = np.zeros((size, len(self.items.vectors)))
        self.package_agents: list[Any] = []
        for index, seed in enumerate(self.seeds):
            self._start(index, int(seed))
        self.candidates = self._candidate_rows()

    def __len__(self) -> int:
        return len(self.seeds)

    def restart(self, index: int, seed: int) -> None:
        """User ``index`` starts a new session as the user of reset seed ``seed`` (a training stream)."""
        self._start(index, seed)
        self.candidates = self._candidate_rows()

    def _start(self, index: int, seed: int) -> None:
        env = self.envs[index]
        self.seeds[index] = seed
        observation, info = env.reset(seed=seed)
        env.action_space.seed(seed)  # SARDINE's random agent: the action space's own draws
        self._observations[index], self._infos[index] = observation, info
        self.history[index] = -1
        self.clicked_sum[index] = 0.0
        self.quality_sum[index] = 0.0
        self.quality_count[index] = 0.0
        self.active[index] = True
        self.steps[index] = 0
        if self.spec.family == "sardine":  # the reset shows a random slate; its clicks are the first history
            self._remember(index, np.asarray(observation["slate"]), np.asarray(observation["clicks"]))

    @property
    def done(self) -> bool:
        return not self.active.any()

    @property
    def user_vectors(self) -> np.ndarray:
        if self.spec.family == "recsim":
            return np.stack([np.asarray(o["user"], dtype=np.float32) for o in self._observations])
        norm = np.linalg.norm(self.clicked_sum, axis=1, keepdims=True)
        return self.clicked_sum / np.where(norm > 0, norm, 1.0)

    @property
    def context(self) -> np.ndarray:
        if self.spec.family == "recsim":
            with np.errstate(invalid="ignore", divide="ignore"):
                return self.quality_sum / self.quality_count
        return np.stack([np.asarray(o["hist"], dtype=np.float32) for o in self._observations])

    def _candidate_rows(self) -> np.ndarray:
        if self.spec.family == "recsim":
            return np.stack([info["clusters"] for info in self._infos]).astype(np.int64)
        return np.broadcast_to(np.arange(len(self.items.vectors)), (len(self), len(self.items.vectors)))

    def relevance(self) -> np.ndarray:
        """(B, C) the true click relevance of each candidate (the oracle's privilege)."""
        if self.spec.family == "recsim":
            return np.stack([info["relevance"] for info in self._infos])
        rows = []
        for env in self.envs:
            scores = env.item_embedd @ env.cur_user_embedd / env.max_score
            rows.append(1 / (1 + np.exp(-(scores - env.offset) * env.slope)))
        return np.stack(rows)

    def package_oracle_slates(self) -> np.ndarray | None:
        """RecSim: (B, k) what its GreedyPCTRAgent shows with the true user state and choice model (it breaks ties
        between videos of one cluster its own way, and their hidden qualities differ). None for SARDINE, whose
        oracle is its environment's own code (the best k true relevances)."""
        if self.spec.family != "recsim":
            return None
        from recsim import choice_model
        from recsim.agents.greedy_pctr_agent import GreedyPCTRAgent

        slates = []
        for env, observation in zip(self.envs, self._observations, strict=True):
            user = env.user_state
            chooser: Any = choice_model.MultinomialProportionalChoiceModel(user.choice_features)
            agent = GreedyPCTRAgent(env.action_space, user, chooser)
            slates.append(agent.step(0, {"doc": dict(enumerate(observation["doc"]))}))
        return np.stack(slates)

    def package_random_slates(self) -> np.ndarray:
        """(B, k) what the package's own random agent shows: SARDINE's action-space sample (items may repeat),
        RecSim's RandomAgent (seeded with the user's reset seed)."""
        if self.spec.family == "sardine":
            return np.stack([env.action_space.sample() for env in self.envs])
        if not self.package_agents:
            from recsim.agents.random_agent import RandomAgent

            self.package_agents = [RandomAgent(env.action_space, random_seed=int(seed))
                                   for env, seed in zip(self.envs, self.seeds, strict=True)]
        return np.stack([agent.step(0, observation) for agent, observation
                         in zip(self.package_agents, self._observations, strict=True)])

    def _remember(self, index: int, slate_rows: np.ndarray, clicks: np.ndarray) -> None:
        clicked = slate_rows[clicks.astype(bool)]
        if len(clicked):
            self.clicked_sum[index] += self.items.vectors[clicked].sum(0)
            newest = clicked[::-1][: self.history.shape[1]]
            self.history[index] = np.concatenate([newest, self.history[index]])[: self.history.shape[1]]

    def step(self, slates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shows each active user their slate (positions into their candidates). Returns (rewards (B,),
        clicks (B, k), the rows shown (B, k)); inactive users get zeros and -1 rows."""
        size, k = len(self), self.slate_size
        rewards = np.zeros(size)
        clicks = np.zeros((size, k))
        shown = np.full((size, k), -1, dtype=np.int64)
        for index in np.flatnonzero(self.active):
            env = self.envs[index]
            slate = np.asarray(slates[index])
            rows = self.candidates[index][slate]
            observation, reward, terminated, truncated, info = env.step(slate)
            shown[index] = rows
            rewards[index] = reward
            self.steps[index] += 1
            if self.spec.family == "recsim":
                response = observation["response"]
                clicks[index] = response[:, 0]
                np.add.at(self.quality_sum[index], rows, response[:, 2])
                np.add.at(self.quality_count[index], rows, 1.0)
            else:
                clicks[index] = observation["clicks"]
            self._remember(int(index), rows, clicks[index])
            self._observations[index], self._infos[index] = observation, info
            self.active[index] = not (terminated or truncated)
        self.candidates = self._candidate_rows()
        return rewards, clicks, shown
