"""DRR (Liu et al. 2018): DDPG actor-critic over item embeddings with the DRR-ave state module.

The actor maps the state s = [u, h, u * h] to an action vector a; every candidate scores a . [e_i, q_i] (its
embedding and its quality, training.rl.nets.ItemTable) and the slate is the best k. We parameterise
a = [u, 0] + actor(s) with the actor's last layer starting at zero, so an untrained DRR ranks exactly as the
encoder does and training moves it from there. The critic Q(s, a) learns
from prioritized replay with targets r + gamma Q'(s', mu'(s')) from soft-updated target networks; the actor
ascends Q(s, mu(s)). Exploration: Gaussian noise on a, and with probability epsilon a random slate, which the
replay does not keep (no action vector chose it, so no Q(s, a) label is true of it).
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
from graphrec.training.rl.training_log import TrainingLog, gradient_norm


@dataclass(frozen=True)
class DRRConfig:
    """Every knob of a DRR result (``graphrec train-policy --set name=value``)."""

    history: int = 10  # recent positives (newest first) the DRR-ave state averages
    hidden: int = 128  # width of the actor's and the critic's two hidden layers
    gamma: float = 0.9  # discount of the critic's TD target (0: a one-step critic, the myopic twin)
    actor_lr: float = 3e-5  # Adam step of the actor: small, DDPG drifts off the greedy start fast (BENCHMARKS.md)
    critic_lr: float = 1e-3  # Adam step of the critic
    tau: float = 0.01  # soft update rate of the target actor and critic
    noise: float = 0.2  # std of the Gaussian action noise, as a share of the mean user-vector norm
    epsilon: float = 0.1  # chance that a training slate is drawn at random
    buffer: int = 100_000  # transitions kept for replay
    batch_size: int = 256  # transitions per update
    per_alpha: float = 0.6  # prioritised replay: how strongly priorities shape sampling (0: uniform)
    per_beta: float = 0.4  # prioritised replay: importance-weight exponent at the start, annealed to 1
    updates_per_step: int = 4  # updates per batch of environment steps
    iterations: int = 20  # log replay: passes over the training episodes
    validation_fraction: float = 0.2  # log replay: share of the training users that picks the checkpoint
    quality_start: float = 0.0  # the starting blend's quality weight (training.rl.nets: the strongest tuned blend)
    fold_start: float = 0.0  # the starting blend's history fold weight
    seed: int = 0  # torch and NumPy seed of initialisation, exploration and replay


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

    def __init__(self, policy: DRRPolicy, log: TrainingLog | None = None) -> None:
        self.policy = policy
        self.log = log if log is not None else TrainingLog()
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
        """One critic and one actor step on a sampled batch; returns the TD errors for the priorities. The next
        state's user vector is ``next_user_vector`` where the transitions hold one (a simulated user's changes),
        else the user vector."""
        user = torch.from_numpy(batch["user_vector"])
        next_user = torch.from_numpy(batch["next_user_vector"]) if "next_user_vector" in batch else user
        history = torch.from_numpy(batch["history"])
        next_history = torch.from_numpy(batch["next_history"])
        action = torch.from_numpy(batch["action_vector"])
        reward = torch.from_numpy(batch["reward"]).float()
        done = torch.from_numpy(batch["done"]).float()
        with torch.no_grad():
            next_action = self.target_policy.action(next_user, next_history)
            target = reward + self.config.gamma * (1 - done) * self.target_critic(next_user, next_history,
                                                                                  next_action)
        q = self.critic(user, history, action)
        errors = target - q
        critic_loss = (torch.from_numpy(weights).float() * errors.pow(2)).mean()
        self.critic_optimiser.zero_grad()
        critic_loss.backward()
        critic_gradient = gradient_norm(self.critic)
        self.critic_optimiser.step()
        actor_loss = -self.critic(user, history, self.policy.action(user, history)).mean()
        self.actor_optimiser.zero_grad()
        actor_loss.backward()
        actor_gradient = gradient_norm(self.policy)
        self.actor_optimiser.step()
        self.log.log(critic_loss=float(critic_loss.detach()), actor_loss=float(actor_loss.detach()),
                     td_error=float(errors.detach().abs().mean()), mean_q=float(q.detach().mean()),
                     critic_gradient_norm=critic_gradient, actor_gradient_norm=actor_gradient)
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
    train, valid = split_validation(world.train, config.validation_fraction, config.seed)
    tracker = CheckpointTracker(policy, world, valid)
    learner = DRRLearner(policy, tracker.result.log)
    dim = world.item_vectors.shape[1]
    buffer = ReplayBuffer(config.buffer, {
        "user_vector": ((dim,), np.float32), "history": ((config.history,), np.int64),
        "next_history": ((config.history,), np.int64), "action_vector": ((dim + 1,), np.float32),
        "reward": ((), np.float32), "done": ((), np.bool_)}, alpha=config.per_alpha, seed=config.seed)
    noise_scale = config.noise * float(np.linalg.norm(world.user_vectors, axis=1).mean())
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
            random = rng.random((len(train), 1)) < config.epsilon
            scores = np.where(random, rng.random(scores.shape), scores)
            reward, _ = batch.step(slate_from_scores(scores, batch.available, world.config.slate_size))
            # the critic learns Q(s, a) of the action vector that chose the slate: a random slate had none
            keep = ~random[:, 0]
            buffer.add(user_vector=user[keep], history=history[keep], next_history=batch.history[keep],
                       action_vector=action.numpy()[keep], reward=reward[keep].astype(np.float32),
                       done=np.full(int(keep.sum()), batch.done))
            for _ in range(config.updates_per_step if len(buffer) else 0):
                slots, sample, weights = buffer.sample(config.batch_size, beta)
                buffer.update_priorities(slots, learner.update(sample, weights))
        tracker.evaluate(iteration)
    return tracker.finish()
