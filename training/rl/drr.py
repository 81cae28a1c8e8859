"""DRR (Liu et al. 2018): DDPG actor-critic over item embeddings with the DRR-ave state module.

The actor maps the state s = [u, h, u * h] to an action vector a; every candidate scores a . [e_i, q_i] (its
embedding and its quality, training.rl.nets.ItemTable) and the slate is the best k. We parameterise
a = [u, 0] + actor(s) with the actor's last layer starting at zero, so an untrained DRR ranks exactly as the
encoder does and training moves it from there. The critic Q(s, a) learns
from prioritized replay with targets r + gamma Q'(s', mu'(s')) from soft-updated target networks; the actor
ascends Q(s, mu(s)). Exploration: Gaussian noise on a, and with probability epsilon a random slate.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from graphrec.training.rl.checkpoint_selection import CheckpointTracker, TrainedPolicy
from graphrec.training.rl.logreplay import ReplayWorld, slate_from_scores
from graphrec.training.rl.nets import ActionPolicy, DRRAveState, mlp, score_action, soft_update
from graphrec.training.rl.replay_buffer import ReplayBuffer
from graphrec.training.rl.rollout import split_validation


@dataclass(frozen=True)
class DRRConfig:
    history: int = 10
    hidden: int = 128
    gamma: float = 0.9
    actor_lr: float = 3e-5  # small: DDPG drifts off the greedy start fast (BENCHMARKS.md)
    critic_lr: float = 1e-3
    tau: float = 0.01  # soft target update rate
    noise: float = 0.2  # std of the action noise, as a share of the mean user-vector norm
    epsilon: float = 0.1  # chance of a random slate while training
    buffer: int = 100_000
    batch_size: int = 256
    per_alpha: float = 0.6
    per_beta: float = 0.4  # annealed to 1 over training
    updates_per_step: int = 4
    iterations: int = 20  # passes over the training episodes
    validation_fraction: float = 0.2
    quality_start: float = 0.0  # the starting blend's quality weight (training.rl.nets: the strongest tuned blend)
    fold_start: float = 0.0  # the starting blend's history fold weight
    seed: int = 0


class DRRPolicy(ActionPolicy):
    name = "drr"
    config_type = DRRConfig

    def __init__(self, item_vectors: np.ndarray, item_quality: np.ndarray, config: DRRConfig) -> None:
        super().__init__(item_vectors, item_quality, config)
        dim = self.items.dim
        self.state_module = DRRAveState(config.history, dim)
        self.actor = mlp(self.state_module.out_dim, config.hidden, dim + 1, zero_last=True)

    @classmethod
    def build(cls, item_vectors: np.ndarray, item_quality: np.ndarray, config: DRRConfig, **_: Any) -> DRRPolicy:
        return cls(item_vectors, item_quality, config)

    def state(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        return self.state_module.over_rows(user, history_rows, self.items)


class DRRCritic(nn.Module):
    def __init__(self, policy: DRRPolicy) -> None:
        super().__init__()
        config: DRRConfig = policy.config
        dim = policy.items.dim
        self.items = policy.items  # shared, frozen
        self.state_module = DRRAveState(config.history, dim)
        self.q = mlp(self.state_module.out_dim + dim + 1, config.hidden, 1)

    def forward(self, user: torch.Tensor, history_rows: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        state = self.state_module.over_rows(user, history_rows, self.items)
        return self.q(torch.cat([state, action], dim=-1)).squeeze(-1)


class DRRLearner:
    """DDPG updates for a DRRPolicy; the trainer (training.rl.train) feeds it transitions."""

    def __init__(self, policy: DRRPolicy) -> None:
        self.policy = policy
        self.config: DRRConfig = policy.config
        self.critic = DRRCritic(policy)
        self.target_policy = copy.deepcopy(policy)
        self.target_critic = copy.deepcopy(self.critic)
        self.actor_optimiser = torch.optim.Adam(
            [*policy.state_module.parameters(), *policy.actor.parameters()], lr=self.config.actor_lr)
        self.critic_optimiser = torch.optim.Adam(
            [*self.critic.state_module.parameters(), *self.critic.q.parameters()], lr=self.config.critic_lr)

    def explore(self, user: torch.Tensor, history_rows: torch.Tensor, noise_scale: float,
                generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            action = self.policy.action(user, history_rows)
            noise = torch.randn(action.shape, generator=generator) * noise_scale
            return action + noise

    def update(self, batch: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """One critic and one actor step on a sampled batch; returns the TD errors for the priorities."""
        user = torch.from_numpy(batch["user_vector"])
        history = torch.from_numpy(batch["history"])
        next_history = torch.from_numpy(batch["next_history"])
        action = torch.from_numpy(batch["action_vector"])
        reward = torch.from_numpy(batch["reward"]).float()
        done = torch.from_numpy(batch["done"]).float()
        with torch.no_grad():
            next_action = self.target_policy.action(user, next_history)
            target = reward + self.config.gamma * (1 - done) * self.target_critic(user, next_history, next_action)
        q = self.critic(user, history, action)
        errors = target - q
        critic_loss = (torch.from_numpy(weights).float() * errors.pow(2)).mean()
        self.critic_optimiser.zero_grad()
        critic_loss.backward()
        self.critic_optimiser.step()
        actor_loss = -self.critic(user, history, self.policy.action(user, history)).mean()
        self.actor_optimiser.zero_grad()
        actor_loss.backward()
        self.actor_optimiser.step()
        soft_update(self.target_policy, self.policy, self.config.tau)
        soft_update(self.target_critic, self.critic, self.config.tau)
        return errors.detach().numpy()


def train_drr(world: ReplayWorld, config: DRRConfig) -> TrainedPolicy:
    """DDPG on the training episodes; the checkpoint with the best validation return is kept (the untrained,
    greedy-equivalent policy included)."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    policy = DRRPolicy(world.item_vectors, world.item_quality, config)
    learner = DRRLearner(policy)
    train, valid = split_validation(world.train, config.validation_fraction, config.seed)
    dim = world.item_vectors.shape[1]
    buffer = ReplayBuffer(config.buffer, {
        "user_vector": ((dim,), np.float32), "history": ((config.history,), np.int64),
        "next_history": ((config.history,), np.int64), "action_vector": ((dim + 1,), np.float32),
        "reward": ((), np.float32), "done": ((), np.bool_)}, alpha=config.per_alpha, seed=config.seed)
    noise_scale = config.noise * float(np.linalg.norm(world.user_vectors, axis=1).mean())
    tracker = CheckpointTracker(policy, world, valid)
    for iteration in tqdm(range(1, config.iterations + 1), desc="training drr", unit="pass", leave=False,
                          disable=None):
        batch = world.batch(train, seed=config.seed * 1_000 + iteration)
        user = world.user_vectors[train.users]
        beta = config.per_beta + (1 - config.per_beta) * iteration / config.iterations
        while not batch.done:
            history = batch.history.copy()
            action = learner.explore(torch.from_numpy(user), torch.from_numpy(history), noise_scale, generator)
            with torch.no_grad():
                scores = score_action(action, policy.items, torch.from_numpy(train.candidates)).numpy()
            scores = np.where(rng.random((len(train), 1)) < config.epsilon, rng.random(scores.shape), scores)
            reward, _ = batch.step(slate_from_scores(scores, batch.available, world.config.slate_size))
            buffer.add(user_vector=user, history=history, next_history=batch.history.copy(),
                       action_vector=action.numpy(), reward=reward.astype(np.float32),
                       done=np.full(len(train), batch.done))
            for _ in range(config.updates_per_step):
                slots, sample, weights = buffer.sample(config.batch_size, beta)
                buffer.update_priorities(slots, learner.update(sample, weights))
        tracker.evaluate(iteration)
    return tracker.finish()
