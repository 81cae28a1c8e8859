"""PPO actor-critic over candidate sets with the LightGCN (or GraphSAGE) embeddings as the state
(as in GRAPPLE), without a leaky evaluation: trained on the training episodes, checkpoints picked on validation
users carved from them, scored once on the held-out interactions.

Actor: the DRR-ave state of the encoder's user and recent-item embeddings -> an action vector a = [u, q0] +
residual(s) (residual zero at the start, so the untrained policy is the starting ranker), candidate logits
a . [e_i, q_i] / temperature. A slate is k draws without replacement (Plackett-Luce, sampled with Gumbel
top-k); its log-probability is the sum of the sequential choice log-probabilities. Critic: V(s) from its own
DRR-ave state. Advantages: GAE; loss: the clipped surrogate, the value error and an entropy bonus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from graphrec.training.rl.checkpoint_selection import CheckpointTracker, TrainedPolicy
from graphrec.training.rl.logreplay import ReplayWorld
from graphrec.training.rl.nets import ActionPolicy, DRRAveState, PolicyInputs, mlp
from graphrec.training.rl.rollout import greedy_spread, split_validation


@dataclass(frozen=True)
class PPOConfig:
    history: int = 10
    hidden: int = 128
    gamma: float = 0.9
    gae_lambda: float = 0.95
    lr: float = 3e-4
    clip: float = 0.2
    value_weight: float = 0.5
    entropy_weight: float = 1e-3
    temperature: float = 0.5  # logits = scores / (temperature * std of the greedy scores over candidates)
    epochs: int = 4  # optimisation passes per rollout
    minibatch: int = 256
    iterations: int = 40  # rollouts over all training episodes
    validation_fraction: float = 0.2
    quality_start: float = 0.0  # the starting blend's quality weight (training.rl.nets: the strongest tuned blend)
    fold_start: float = 0.0  # the starting blend's history fold weight
    seed: int = 0


class PPOPolicy(ActionPolicy):
    name = "ppo"
    config_type = PPOConfig

    def __init__(self, item_vectors: np.ndarray, item_quality: np.ndarray, config: PPOConfig) -> None:
        super().__init__(item_vectors, item_quality, config)
        dim = self.items.dim
        self.actor_state = DRRAveState(config.history, dim)
        self.actor = mlp(self.actor_state.out_dim, config.hidden, dim + 1, zero_last=True)
        self.value_state = DRRAveState(config.history, dim)
        self.value = mlp(self.value_state.out_dim, config.hidden, 1)

    @classmethod
    def build(cls, item_vectors: np.ndarray, item_quality: np.ndarray, config: PPOConfig, **_: Any) -> PPOPolicy:
        return cls(item_vectors, item_quality, config)

    def state(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        """The actor's state."""
        return self.actor_state.over_rows(user, history_rows, self.items)

    def state_value(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        state = self.value_state.over_rows(user, history_rows, self.items)
        return self.value(state).squeeze(-1)


def slate_log_prob(logits: torch.Tensor, available: torch.Tensor, slate: torch.Tensor) -> tuple[
        torch.Tensor, torch.Tensor]:
    """Plackett-Luce log-probability of each row's slate (B, k) and the entropy of its first choice."""
    masked = logits.masked_fill(~available, float("-inf"))
    first = torch.distributions.Categorical(logits=masked)
    log_prob = torch.zeros(len(logits))
    for position in range(slate.shape[1]):
        chosen = slate[:, position]
        log_prob = log_prob + masked.gather(1, chosen[:, None]).squeeze(1) - torch.logsumexp(masked, dim=1)
        masked = masked.scatter(1, chosen[:, None], float("-inf"))
    return log_prob, first.entropy()


def sample_slate(logits: np.ndarray, available: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k candidates without replacement with Plackett-Luce probabilities (the Gumbel top-k trick)."""
    perturbed = np.where(available, logits + rng.gumbel(size=logits.shape), -np.inf)
    part = np.argpartition(-perturbed, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(perturbed, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def train_ppo(world: ReplayWorld, config: PPOConfig) -> TrainedPolicy:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    policy = PPOPolicy(world.item_vectors, world.item_quality, config)
    optimiser = torch.optim.Adam(policy.parameters(), lr=config.lr)
    train, valid = split_validation(world.train, config.validation_fraction, config.seed)
    candidates = torch.from_numpy(train.candidates)
    user = torch.from_numpy(world.user_vectors[train.users])
    temperature = config.temperature * greedy_spread(world, train)
    tracker = CheckpointTracker(policy, world, valid)
    k = world.config.slate_size
    for iteration in tqdm(range(1, config.iterations + 1), desc="training ppo", unit="rollout", leave=False,
                          disable=None):
        batch = world.batch(train, seed=config.seed * 1_000 + iteration)
        histories, availables, slates, rewards, old_log_probs, values = [], [], [], [], [], []
        policy.eval()
        with torch.no_grad():
            while not batch.done:
                history = torch.from_numpy(batch.history.copy())
                available = torch.from_numpy(batch.available.copy())
                logits = policy.scores(PolicyInputs(user, history, candidates)) / temperature
                slate = torch.from_numpy(sample_slate(logits.numpy(), batch.available, k, rng))
                log_prob, _ = slate_log_prob(logits, available, slate)
                values.append(policy.state_value(user, history))
                reward, _ = batch.step(slate.numpy())
                histories.append(history)
                availables.append(available)
                slates.append(slate)
                rewards.append(torch.from_numpy(reward).float())
                old_log_probs.append(log_prob)
        advantages, returns = gae(torch.stack(rewards), torch.stack(values), config.gamma, config.gae_lambda)
        steps, users = advantages.shape
        flat_history = torch.cat(histories)
        flat_available = torch.cat(availables)
        flat_slate = torch.cat(slates)
        flat_old = torch.cat(old_log_probs)
        flat_adv = advantages.reshape(-1)
        flat_adv = (flat_adv - flat_adv.mean()) / (flat_adv.std() + 1e-8)
        flat_returns = returns.reshape(-1)
        flat_user = user.repeat(steps, 1)
        flat_candidates = candidates.repeat(steps, 1)
        policy.train()
        for _ in range(config.epochs):
            for chunk in torch.randperm(steps * users).split(config.minibatch):
                inputs = PolicyInputs(flat_user[chunk], flat_history[chunk], flat_candidates[chunk])
                logits = policy.scores(inputs) / temperature
                log_prob, entropy = slate_log_prob(logits, flat_available[chunk], flat_slate[chunk])
                ratio = torch.exp(log_prob - flat_old[chunk])
                surrogate = torch.min(ratio * flat_adv[chunk],
                                      ratio.clamp(1 - config.clip, 1 + config.clip) * flat_adv[chunk])
                value_error = (policy.state_value(flat_user[chunk], flat_history[chunk]) - flat_returns[chunk]).pow(2)
                loss = -surrogate.mean() + config.value_weight * value_error.mean() \
                    - config.entropy_weight * entropy.mean()
                optimiser.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
                optimiser.step()
        tracker.evaluate(iteration)
    return tracker.finish()


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns for (steps, users) arrays of equal-length episodes."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[1])
    for step in reversed(range(len(rewards))):
        next_value = values[step + 1] if step + 1 < len(rewards) else torch.zeros_like(values[step])
        delta = rewards[step] + gamma * next_value - values[step]
        running = delta + gamma * lam * running
        advantages[step] = running
    return advantages, advantages + values
