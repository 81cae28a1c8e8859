"""Our RL policies trained in a simulator: DRR (DDPG), PPO, SlateQ and KG-DQN, each on a stream of training users
and picked at the checkpoint of best mean return on validation users (the untrained policy included).

Every policy is the very module the service serves (training.rl.nets): it scores candidate rows from a user
vector and the recent clicks (training.rl.sim.envs says what those are in each simulator). The loops differ from
the log replay's only in where transitions come from: ``envs`` users play in lockstep, and a user whose session
ends is replaced by the next training user, so every step yields ``envs`` transitions.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from graphrec.training.rl.checkpoint_selection import TrainedPolicy
from graphrec.training.rl.drr import DRRConfig, DRRLearner, DRRPolicy
from graphrec.training.rl.kgdqn import KGDQNConfig, KGDQNPolicy
from graphrec.training.rl.nets import CandidatePolicy, PolicyInputs, score_action, soft_update
from graphrec.training.rl.ppo import PPOConfig, PPOPolicy, gae, ppo_update, sample_slate, slate_log_prob
from graphrec.training.rl.replay_buffer import ReplayBuffer
from graphrec.training.rl.sim.envs import SimBatch, SimSpec
from graphrec.training.rl.sim.play import Ranker, play_sessions, top_slate
from graphrec.training.rl.slateq import SlateQConfig, SlateQPolicy, slateq_loss
from graphrec.training.rl.training_log import TrainingLog, gradient_norm

# Reset seeds: one disjoint range per purpose, so that no simulated user is both trained on and measured on.
SEED_BASE = {"train": 10**8, "validation": 2 * 10**8, "test": 3 * 10**8, "tuning": 4 * 10**8}


def user_seeds(purpose: str, seed: int, count: int) -> np.ndarray:
    """The reset seeds of ``count`` users of ``purpose`` (validation, test, tuning) for training seed ``seed``."""
    return SEED_BASE[purpose] + seed * 10**5 + np.arange(count)


def training_stream(seed: int) -> Iterator[int]:
    """The endless stream of training users' reset seeds for training seed ``seed``."""
    return itertools.count(SEED_BASE["train"] + seed * 10**6)


@dataclass(frozen=True)
class SimTraining:
    """How long and on whom a policy trains in a simulator (the policy's own knobs are in its config)."""

    steps: int = 120_000  # environment steps (one slate shown to one user each): RLlib's SlateQ used 120k-300k
    envs: int = 32  # training users in lockstep
    evaluations: int = 8  # checkpoint evaluations on the validation users, evenly spread over training
    rollout: int = 64  # PPO: steps per user between updates (rollout = rollout x envs transitions)


def policy_ranker(policy: CandidatePolicy) -> Ranker:
    """Each user's k candidates of best policy score (PPO too: evaluation is greedy, as in the log replay)."""

    def rank(batch: SimBatch) -> np.ndarray:
        scores = policy.score_numpy(batch.user_vectors, batch.history, np.ascontiguousarray(batch.candidates))
        return top_slate(scores, batch.slate_size)

    return rank


class _Selection:
    """Validation return at evenly spaced points of training; the best state is kept (step 0 included)."""

    def __init__(self, policy: CandidatePolicy, spec: SimSpec, validation_seeds: np.ndarray, total: int,
                 evaluations: int) -> None:
        self.policy, self.spec, self.seeds = policy, spec, validation_seeds
        self.result = TrainedPolicy(policy)
        self.started = time.perf_counter()
        self.points = list(np.linspace(total / evaluations, total, evaluations).astype(int))
        self.best = float("-inf")
        self.best_state: dict[str, Any] = {}
        self.evaluate(0)

    @property
    def log(self) -> TrainingLog:
        return self.result.log

    def due(self, steps: int) -> None:
        while self.points and steps >= self.points[0]:
            self.evaluate(self.points.pop(0))

    def evaluate(self, steps: int) -> None:
        value = play_sessions(policy_ranker(self.policy), self.spec, self.seeds).mean_return
        self.policy.train()
        self.result.curve.append((steps, value))
        self.log.note(validation_return=value)
        if value > self.best:
            self.best, self.best_state, self.result.best_iteration = value, copy.deepcopy(
                self.policy.state_dict()), steps

    def finish(self) -> TrainedPolicy:
        self.policy.load_state_dict(self.best_state)
        self.policy.eval()
        self.result.seconds = time.perf_counter() - self.started
        return self.result


def _tensors(batch: SimBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(batch.user_vectors.copy()), torch.from_numpy(batch.history.copy()),
            torch.from_numpy(np.ascontiguousarray(batch.candidates)))


def _next_users(batch: SimBatch, seeds: Iterator[int]) -> np.ndarray:
    """Restarts every user whose session ended with the next training seed; returns which ended."""
    ended = ~batch.active
    for index in np.flatnonzero(ended):
        batch.restart(int(index), next(seeds))
    return ended


def train_in_simulator(name: str, spec: SimSpec, config: Any, training: SimTraining, training_seeds: Iterator[int],
                       validation_seeds: np.ndarray) -> TrainedPolicy:
    """``name`` (drr, ppo, slateq, kgdqn) with ``config`` (its typed config) trained in ``spec``'s simulator."""
    torch.manual_seed(config.seed)
    batch = SimBatch(spec, np.array([next(training_seeds) for _ in range(training.envs)]), config.history
                     if hasattr(config, "history") else 10)
    vectors = batch.items.vectors
    quality = np.zeros(len(vectors), dtype=np.float32)
    if name == "kgdqn":
        policy: CandidatePolicy = KGDQNPolicy(vectors, quality, config, batch.items.entities)
    else:
        policy = {"drr": DRRPolicy, "ppo": PPOPolicy, "slateq": SlateQPolicy}[name](vectors, quality, config)
    selection = _Selection(policy, spec, validation_seeds, training.steps, training.evaluations)
    loop = {"drr": _train_drr, "ppo": _train_ppo, "slateq": _train_item_values, "kgdqn": _train_item_values}[name]
    with tqdm(total=training.steps, desc=f"training {name} in {spec.name}", unit="step", leave=False,
              disable=None) as progress:
        loop(policy, batch, training, training_seeds, selection, progress)
    return selection.finish()


def _train_drr(policy: DRRPolicy, batch: SimBatch, training: SimTraining, seeds: Iterator[int],
               selection: _Selection, progress: tqdm) -> None:
    """DDPG (training.rl.drr). Random exploration slates are not stored: no action vector produced them."""
    config: DRRConfig = policy.config
    learner = DRRLearner(policy, selection.log)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    dim = policy.items.dim
    fields: dict[str, tuple[tuple[int, ...], Any]] = {
        "user_vector": ((dim,), np.float32), "next_user_vector": ((dim,), np.float32),
        "history": ((config.history,), np.int64), "next_history": ((config.history,), np.int64),
        "action_vector": ((dim + 1,), np.float32), "reward": ((), np.float32), "done": ((), np.bool_)}
    buffer = ReplayBuffer(config.buffer, fields, alpha=config.per_alpha, seed=config.seed)
    noise_scale = config.noise * max(float(np.linalg.norm(batch.user_vectors, axis=1).mean()), 1e-3)
    steps = 0
    while steps < training.steps:
        user, history, candidates = _tensors(batch)
        action = learner.explore(user, history, noise_scale, generator)
        with torch.no_grad():
            scores = score_action(action, policy.items, candidates).numpy()
        random = rng.random(len(batch)) < config.epsilon
        scores = np.where(random[:, None], rng.random(scores.shape), scores)
        rewards, _, _ = batch.step(top_slate(scores, batch.slate_size))
        keep = ~random
        buffer.add(user_vector=user.numpy()[keep], next_user_vector=batch.user_vectors[keep],
                   history=history.numpy()[keep], next_history=batch.history[keep],
                   action_vector=action.numpy()[keep], reward=rewards[keep].astype(np.float32),
                   done=~batch.active[keep])
        _next_users(batch, seeds)
        steps += len(batch)
        progress.update(len(batch))
        if len(buffer) >= config.batch_size:
            beta = config.per_beta + (1 - config.per_beta) * min(1.0, steps / training.steps)
            for _ in range(config.updates_per_step):
                slots, sample, weights = buffer.sample(config.batch_size, beta)
                buffer.update_priorities(slots, learner.update(sample, weights))
        selection.due(steps)


def _train_ppo(policy: PPOPolicy, batch: SimBatch, training: SimTraining, seeds: Iterator[int],
               selection: _Selection, progress: tqdm) -> None:
    """PPO (training.rl.ppo) on rollouts of ``training.rollout`` steps per user; GAE cut at episode ends."""
    config: PPOConfig = policy.config
    optimiser = torch.optim.Adam(policy.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    user, history, candidates = _tensors(batch)
    with torch.no_grad():  # the temperature's unit: the spread of the starting scores over a user's candidates
        temperature = config.temperature * max(float(policy.start_scores(
            PolicyInputs(user, history, candidates)).std(dim=1).mean()), 1e-3)
    steps = 0
    while steps < training.steps:
        columns: dict[str, list[torch.Tensor]] = {key: [] for key in (
            "user", "history", "candidates", "available", "slate", "old_log_prob", "value", "reward", "done")}
        policy.eval()
        with torch.no_grad():
            for _ in range(training.rollout):
                user, history, candidates = _tensors(batch)
                logits = policy.scores(PolicyInputs(user, history, candidates)) / temperature
                available = torch.ones_like(logits, dtype=torch.bool)
                slate = torch.from_numpy(sample_slate(logits.numpy(), available.numpy(), batch.slate_size, rng))
                log_prob, _ = slate_log_prob(logits, available, slate)
                rewards, _, _ = batch.step(slate.numpy())
                for key, value in (("user", user), ("history", history), ("candidates", candidates),
                                   ("available", available), ("slate", slate), ("old_log_prob", log_prob),
                                   ("value", policy.state_value(user, history)),
                                   ("reward", torch.from_numpy(rewards).float()),
                                   ("done", torch.from_numpy(_next_users(batch, seeds)))):
                    columns[key].append(value)
                steps += len(batch)
                progress.update(len(batch))
            user, history, _ = _tensors(batch)
            last = policy.state_value(user, history)
        advantages, returns = gae(torch.stack(columns["reward"]), torch.stack(columns["value"]), config.gamma,
                                  config.gae_lambda, torch.stack(columns["done"]), last)
        policy.train()
        ppo_update(policy, optimiser, {
            **{key: torch.cat(columns[key]) for key in ("user", "history", "candidates", "available", "slate",
                                                        "old_log_prob")},
            "advantages": advantages.reshape(-1), "returns": returns.reshape(-1)}, config, temperature,
            selection.log)
        selection.due(steps)


def _train_item_values(policy: SlateQPolicy | KGDQNPolicy, batch: SimBatch, training: SimTraining,
                       seeds: Iterator[int], selection: _Selection, progress: tqdm) -> None:
    """SlateQ (training.rl.slateq) and KG-DQN (training.rl.kgdqn): per-item values learned by TD from uniform
    replay, epsilon-random slates for exploration, a soft-updated target network. Each shown item's reward is its
    click (SARDINE) or its share of the slate's reward (RecSim: the clicked video's watch time)."""
    config: SlateQConfig | KGDQNConfig = policy.config
    target = copy.deepcopy(policy)
    optimiser = torch.optim.Adam(policy.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    k, history_size = batch.slate_size, batch.history.shape[1]
    shared = batch.spec.family == "sardine"  # every user's candidates are the whole catalogue: not stored
    fixed_candidates = torch.from_numpy(np.array(batch.candidates[:1]))
    fields: dict[str, tuple[tuple[int, ...], Any]] = {
        "user": ((policy.items.dim,), np.float32), "next_user": ((policy.items.dim,), np.float32),
        "history": ((history_size,), np.int64), "next_history": ((history_size,), np.int64),
        "shown": ((k,), np.int64), "clicks": ((k,), np.float32), "rewards": ((k,), np.float32),
        "done": ((), np.float32)}
    if not shared:
        fields["candidates"] = ((batch.candidates.shape[1],), np.int64)
        fields["next_candidates"] = ((batch.candidates.shape[1],), np.int64)
    buffer = ReplayBuffer(config.buffer, fields, seed=config.seed)
    steps = 0
    while steps < training.steps:
        user, history, candidates = _tensors(batch)
        with torch.no_grad():
            scores = policy.scores(PolicyInputs(user, history, candidates)).numpy()
        random = rng.random(len(batch)) < config.epsilon
        scores = np.where(random[:, None], rng.random(scores.shape), scores)
        rewards, clicks, shown = batch.step(top_slate(scores, k))
        item_rewards = clicks * (rewards / np.maximum(clicks.sum(1), 1))[:, None]
        row = {"user": user.numpy(), "next_user": batch.user_vectors, "history": history.numpy(),
               "next_history": batch.history.copy(), "shown": shown, "clicks": clicks,
               "rewards": item_rewards, "done": (~batch.active).astype(np.float32)}
        if not shared:
            row |= {"candidates": candidates.numpy(), "next_candidates": np.ascontiguousarray(batch.candidates)}
        buffer.add(**row)
        _next_users(batch, seeds)
        steps += len(batch)
        progress.update(len(batch))
        if len(buffer) >= config.batch_size:
            for _ in range(config.updates_per_step):
                _, sample, _ = buffer.sample(config.batch_size)
                tensors = {key: torch.from_numpy(value) for key, value in sample.items()}
                if shared:
                    tensors["next_candidates"] = fixed_candidates.expand(config.batch_size, -1)
                if isinstance(policy, SlateQPolicy):
                    loss, metrics = slateq_loss(policy, cast(SlateQPolicy, target), tensors, config.gamma, k,
                                                cast(SlateQConfig, config).click_weight)
                else:
                    loss, metrics = _kgdqn_loss(policy, cast(KGDQNPolicy, target), tensors, config.gamma, k)
                optimiser.zero_grad()
                loss.backward()
                metrics["gradient_norm"] = gradient_norm(policy, clip=1.0)
                optimiser.step()
                soft_update(target, policy, config.tau)
                selection.log.log(**metrics)
        selection.due(steps)


def _kgdqn_loss(policy: KGDQNPolicy, target: KGDQNPolicy, batch: dict[str, torch.Tensor], gamma: float,
                k: int) -> tuple[torch.Tensor, dict[str, float]]:
    """KG-DQN's double-DQN target for every shown item: r_i + gamma * mean Q_target(s', j) over the k items the
    online network would show next (training.rl.kgdqn)."""
    with torch.no_grad():
        next_inputs = PolicyInputs(batch["next_user"], batch["next_history"], batch["next_candidates"])
        chosen = policy.scores(next_inputs).topk(k, dim=1).indices
        next_value = target.q_values(next_inputs).gather(1, chosen).mean(dim=1)
        y = batch["rewards"] + gamma * ((1 - batch["done"]) * next_value).unsqueeze(1)
    # Q of the shown items among the candidates they were shown from: the dueling mean is over those candidates
    candidates = batch.get("candidates", batch["next_candidates"])
    q_all = policy.q_values(PolicyInputs(batch["user"], batch["history"], candidates))
    position = (candidates.unsqueeze(1) == batch["shown"].unsqueeze(2)).float().argmax(dim=2)
    q = q_all.gather(1, position)
    loss = nn.functional.smooth_l1_loss(q, y)
    q = q.detach()
    return loss, {"td_loss": float(loss.detach()), "mean_q": float(q.mean()), "td_error": float((q - y).abs().mean())}
