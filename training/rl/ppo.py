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
from tqdm import tqdm

from graphrec.training.rl.checkpoint_selection import CheckpointTracker, TrainedPolicy
from graphrec.training.rl.logreplay import ReplayWorld
from graphrec.training.rl.nets import ActionPolicy, DRRAveState, PolicyInputs, mlp
from graphrec.training.rl.rollout import greedy_spread, split_validation
from graphrec.training.rl.training_log import TrainingLog, gradient_norm


@dataclass(frozen=True)
class PPOConfig:
    """Every knob of a PPO result (``graphrec train-policy --set name=value``)."""

    history: int = 10  # recent positives (newest first) the DRR-ave states average
    hidden: int = 128  # width of the actor's and the value network's two hidden layers
    gamma: float = 0.9  # discount of returns and advantages (0: the myopic twin)
    gae_lambda: float = 0.95  # GAE's bias-variance trade-off
    lr: float = 3e-4  # Adam step
    clip: float = 0.2  # the surrogate's clip range on the probability ratio
    value_weight: float = 0.5  # weight of the value error in the loss
    entropy_weight: float = 1e-3  # weight of the first choice's entropy bonus
    temperature: float = 0.5  # logits = scores / (temperature * std of the starting scores over candidates)
    epochs: int = 4  # optimisation passes per rollout
    minibatch: int = 256  # transitions per gradient step
    iterations: int = 40  # log replay: rollouts over all training episodes
    validation_fraction: float = 0.2  # log replay: share of the training users that picks the checkpoint
    quality_start: float = 0.0  # the starting blend's quality weight (training.rl.nets: the strongest tuned blend)
    fold_start: float = 0.0  # the starting blend's history fold weight
    seed: int = 0  # torch and NumPy seed of initialisation, sampling and minibatches


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
        steps = len(advantages)
        policy.train()
        ppo_update(policy, optimiser, {
            "user": user.repeat(steps, 1), "history": torch.cat(histories), "candidates": candidates.repeat(steps, 1),
            "available": torch.cat(availables), "slate": torch.cat(slates), "old_log_prob": torch.cat(old_log_probs),
            "advantages": advantages.reshape(-1), "returns": returns.reshape(-1)}, config, temperature,
            tracker.result.log)
        tracker.evaluate(iteration)
    return tracker.finish()


def ppo_update(policy: PPOPolicy, optimiser: torch.optim.Optimizer, rollout: dict[str, torch.Tensor],
               config: PPOConfig, temperature: float, log: TrainingLog) -> None:
    """``config.epochs`` passes of clipped-surrogate minibatch steps over one rollout (flat tensors: user,
    history, candidates, available, slate, old_log_prob, advantages, returns), each step's metrics logged: policy
    and value loss, entropy, approximate KL (the k3 estimator, Schulman 2020), clip fraction, explained variance
    of the returns, gradient norm."""
    advantages = rollout["advantages"]
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    returns = rollout["returns"]
    for _ in range(config.epochs):
        for chunk in torch.randperm(len(returns)).split(config.minibatch):
            inputs = PolicyInputs(rollout["user"][chunk], rollout["history"][chunk], rollout["candidates"][chunk])
            logits = policy.scores(inputs) / temperature
            log_prob, entropy = slate_log_prob(logits, rollout["available"][chunk], rollout["slate"][chunk])
            log_ratio = log_prob - rollout["old_log_prob"][chunk]
            ratio = torch.exp(log_ratio)
            surrogate = torch.min(ratio * advantages[chunk],
                                  ratio.clamp(1 - config.clip, 1 + config.clip) * advantages[chunk])
            value = policy.state_value(rollout["user"][chunk], rollout["history"][chunk])
            value_error = (value - returns[chunk]).pow(2)
            policy_loss = -surrogate.mean()
            loss = policy_loss + config.value_weight * value_error.mean() - config.entropy_weight * entropy.mean()
            optimiser.zero_grad()
            loss.backward()
            norm = gradient_norm(policy, clip=1.0)
            optimiser.step()
            with torch.no_grad():
                variance = returns[chunk].var()
                log.log(policy_loss=float(policy_loss), value_loss=float(value_error.mean()),
                        entropy=float(entropy.mean()), approx_kl=float(((ratio - 1) - log_ratio).mean()),
                        clip_fraction=float(((ratio - 1).abs() > config.clip).float().mean()),
                        explained_variance=float(1 - (returns[chunk] - value).var() / variance)
                        if variance > 0 else 0.0, gradient_norm=norm)


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float,
        dones: torch.Tensor | None = None, last_values: torch.Tensor | None = None) -> tuple[
        torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns for (steps, users) arrays. ``dones[t]`` marks the steps after
    which a user's episode ended (without it, every episode ends after the last step); ``last_values`` is the
    value of the states after the last step (0 by default)."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[1])
    for step in reversed(range(len(rewards))):
        if step + 1 < len(rewards):
            next_value = values[step + 1]
        else:
            next_value = last_values if last_values is not None else torch.zeros_like(values[step])
        alive = 1.0 - dones[step].float() if dones is not None else 1.0
        delta = rewards[step] + gamma * next_value * alive - values[step]
        running = delta + gamma * lam * alive * running
        advantages[step] = running
    return advantages, advantages + values
