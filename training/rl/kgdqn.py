"""KG-DQN, after KGQR (Zhou et al. 2020): a dueling double DQN over knowledge-aware item embeddings.

Items: z_i = e_i + W mean_{entities x of i} E_x, one graph-convolution step over the item-entity KG (E and W
learned). State: a GRU over the knowledge-aware embeddings of the recent positives (oldest to newest) next to
the user's embedding. Action space: the user's candidates within two KG hops of the recent positives (item ->
entity -> item), all candidates when fewer than ``MIN_NEIGHBOURHOOD`` are, or the history is empty. Q(s, i) =
V(s) + A(s, i) - mean_j A(s, j), with A(s, i) = alpha u . e_i + phi(s) . [z_i, q_i]; phi starts at zero, so
the untrained policy ranks as the encoder does. A slate is the k best Q; each shown item is one action with
its own reward (the slate's value is the sum, as in SlateQ), and the double-DQN target of every item is
r + gamma * mean Q_target(s', j) over the k items the online network would show next.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from tqdm import tqdm

from graphrec.training.rl.checkpoint_selection import CheckpointTracker, TrainedPolicy
from graphrec.training.rl.logreplay import ReplayWorld, slate_from_scores
from graphrec.training.rl.nets import CandidatePolicy, PolicyInputs, covers_table, mlp, soft_update
from graphrec.training.rl.replay_buffer import ReplayBuffer
from graphrec.training.rl.rollout import split_validation
from graphrec.training.rl.training_log import gradient_norm

OUTSIDE_HOPS = -1.0e4  # added to candidates outside the KG neighbourhood: finite, always ranked last
MIN_NEIGHBOURHOOD = 20  # two slates of 10: fewer KG neighbours than this and the filter is off


@dataclass(frozen=True)
class KGDQNConfig:
    """Every knob of a KG-DQN result (``graphrec train-policy --set name=value``)."""

    hidden: int = 128  # width of the value and advantage networks' two hidden layers
    gamma: float = 0.9  # discount of the double-DQN target (0: the myopic twin)
    lr: float = 1e-5  # Adam step: larger steps buy return with ranking quality (the NDCG guard then rejects them)
    tau: float = 0.01  # soft update rate of the target network
    epsilon: float = 0.1  # chance that a training slate is drawn at random
    buffer: int = 100_000  # transitions kept for replay (uniform)
    batch_size: int = 256  # transitions per update
    updates_per_step: int = 4  # updates per batch of environment steps
    iterations: int = 10  # log replay: passes over the training episodes
    khop_filter: bool = True  # rank only candidates within two KG hops of the recent positives (if enough)
    validation_fraction: float = 0.2  # log replay: share of the training users that picks the checkpoint
    quality_start: float = 0.0  # the starting blend's quality weight (training.rl.nets: the strongest tuned blend)
    fold_start: float = 0.0  # the starting blend's history fold weight
    seed: int = 0  # torch and NumPy seed of initialisation, exploration and replay


class KGDQNPolicy(CandidatePolicy):
    name = "kgdqn"
    config_type = KGDQNConfig
    item_entities: torch.Tensor

    def __init__(self, item_vectors: np.ndarray, item_quality: np.ndarray, config: KGDQNConfig,
                 item_entities: np.ndarray) -> None:
        super().__init__(item_vectors, item_quality, config)
        dim = self.items.dim
        padded = np.vstack([item_entities, np.zeros((1, item_entities.shape[1]))]).astype(np.float32)
        self.register_buffer("item_entities", torch.from_numpy(padded))  # row-normalised, a zero padding row
        self.entities = nn.Parameter(torch.randn(item_entities.shape[1], dim) * 0.01)
        self.kg_weight = nn.Linear(dim, dim, bias=False)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self._derived: dict[str, tuple[tuple[tuple[int, int], ...], torch.Tensor]] = {}
        self.value = mlp(2 * dim, config.hidden, 1)
        self.advantage = mlp(2 * dim, config.hidden, dim + 1, zero_last=True)
        self.alpha = nn.Parameter(torch.tensor(0.05))  # scale of the encoder's score inside A

    @classmethod
    def build(cls, item_vectors: np.ndarray, item_quality: np.ndarray, config: KGDQNConfig,
              n_entities: int = 1, **_: Any) -> KGDQNPolicy:
        return cls(item_vectors, item_quality, config, np.zeros((len(item_vectors), n_entities), np.float32))

    def build_arguments(self) -> dict[str, Any]:
        return {"n_entities": int(self.item_entities.shape[1])}

    def knowledge_vectors(self, rows: torch.Tensor) -> torch.Tensor:
        padded = torch.where(rows < 0, self.item_entities.shape[0] - 1, rows)
        if not (self.training or torch.is_grad_enabled()):
            return self.knowledge_table()[padded]
        if rows.numel() >= self.item_entities.shape[0]:  # more rows than items: aggregate each item once
            return (self.items.table + self.kg_weight(self.item_entities @ self.entities))[padded]
        return self.items(rows) + self.kg_weight(self.item_entities[padded] @ self.entities)

    def knowledge_table(self) -> torch.Tensor:
        """z of every item row and of the padding row, for scoring: per request the KG aggregation costs more
        than the rest of the network."""
        return self.derived("knowledge", (self.items.table, self.entities, self.kg_weight.weight, self.item_entities),
                            lambda: self.items.table + self.kg_weight(self.item_entities @ self.entities))

    def derived(self, name: str, sources: tuple[torch.Tensor, ...],
                compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()``, kept until one of ``sources`` is replaced or changed in place (an optimiser step,
        load_state_dict)."""
        key = tuple((id(tensor), tensor._version) for tensor in sources)
        if name not in self._derived or self._derived[name][0] != key:
            self._derived[name] = (key, compute())
        return self._derived[name][1]

    def state(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        """[u, GRU over the recent positives oldest first]; padding rows (-1) are skipped wherever they are."""
        present = history_rows >= 0
        lengths = present.sum(dim=1)
        compact = history_rows.gather(1, torch.argsort((~present).to(torch.int8), dim=1, stable=True))
        steps = torch.arange(history_rows.shape[1], device=history_rows.device)
        oldest_first = compact.gather(1, (lengths.unsqueeze(1) - 1 - steps).clamp(min=0))
        packed = pack_padded_sequence(self.knowledge_vectors(oldest_first), lengths.clamp(min=1).cpu(),
                                      batch_first=True, enforce_sorted=False)
        _, hidden = self.gru(packed)  # one fused recurrence instead of a cell call per position
        hidden = hidden[0] * (lengths > 0).unsqueeze(-1)  # no history: the zero initial state
        return torch.cat([user, hidden], dim=-1)

    def khop_mask(self, history_rows: torch.Tensor, candidate_rows: torch.Tensor) -> torch.Tensor:
        """True where a candidate shares a KG entity with a recent positive (or where no filter applies)."""
        lists = self.entity_lists()
        padding = self.item_entities.shape[0] - 1
        n_entities = self.item_entities.shape[1]
        history = lists[torch.where(history_rows < 0, padding, history_rows)].flatten(1)  # (B, H * m)
        # One flag per entity (and a last, never-set one for padding): what the history reaches.
        index = torch.where(history < 0, n_entities, history)
        reached = torch.zeros(history.shape[0], n_entities + 1, dtype=torch.bool, device=history.device).scatter(
            1, index, torch.ones_like(index, dtype=torch.bool))
        reached[:, n_entities] = False
        candidates = lists[torch.where(candidate_rows < 0, padding, candidate_rows)]  # (B, C, m)
        flat = torch.where(candidates < 0, n_entities, candidates).flatten(1)
        near = reached.gather(1, flat).view(candidates.shape).any(dim=-1)
        enough = near.sum(dim=1, keepdim=True) >= MIN_NEIGHBOURHOOD
        return near | ~enough

    def entity_lists(self) -> torch.Tensor:
        """(items + 1, m): each item's entity columns, -1 padded (m the most any item has). Looking entities up
        by list costs the candidates' entity counts, not the KG's size (969 categories on the Taobao excerpt)."""

        def build() -> torch.Tensor:
            present = self.item_entities > 0
            width = max(int(present.sum(dim=1).max()), 1)
            order = torch.sort(present.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :width]
            return torch.where(present.gather(1, order), order, -1)

        return self.derived("entity lists", (self.item_entities,), build)

    def session_code(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        """[V(s), phi(s)]: all that Q needs from the state."""
        state = self.state(user, history_rows)
        return torch.cat([self.value(state), self.advantage(state)], dim=-1)

    def q_values(self, inputs: PolicyInputs) -> torch.Tensor:
        return self.q_from_code(self.session_code(inputs.user, inputs.history_rows), inputs)

    def q_from_code(self, code: torch.Tensor, inputs: PolicyInputs) -> torch.Tensor:
        value, phi = code[:, :1], code[:, 1:]
        dim = self.items.dim
        start = self.start_scores(inputs)
        if covers_table(inputs.candidate_rows, self.items.table):
            table = self.knowledge_table() if not (self.training or torch.is_grad_enabled()) else \
                self.items.table + self.kg_weight(self.item_entities @ self.entities)
            rows = torch.where(inputs.candidate_rows < 0, table.shape[0] - 1, inputs.candidate_rows)
            per_row = phi[:, :dim] @ table.T + phi[:, dim:] * self.items.quality
            advantage = self.alpha * start + per_row.gather(1, rows)
        else:
            knowledge = self.knowledge_vectors(inputs.candidate_rows)
            advantage = self.alpha * start + (knowledge * phi[:, None, :dim]).sum(-1) \
                + phi[:, dim:] * self.items.item_quality(inputs.candidate_rows)
        return value + advantage - advantage.mean(dim=1, keepdim=True)

    def scores_from_code(self, code: torch.Tensor, inputs: PolicyInputs) -> torch.Tensor:
        q = self.q_from_code(code, inputs)
        if not self.config.khop_filter:
            return q
        return q + OUTSIDE_HOPS * (~self.khop_mask(inputs.history_rows, inputs.candidate_rows)).float()


def train_kgdqn(world: ReplayWorld, config: KGDQNConfig) -> TrainedPolicy:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    entities = np.asarray(sp.csr_matrix(world.item_entities).todense(), dtype=np.float32)
    policy = KGDQNPolicy(world.item_vectors, world.item_quality, config, entities)
    target = copy.deepcopy(policy)
    optimiser = torch.optim.Adam(policy.parameters(), lr=config.lr)
    train, valid = split_validation(world.train, config.validation_fraction, config.seed)
    k = world.config.slate_size
    history_size = train.history.shape[1]
    buffer = ReplayBuffer(config.buffer, {
        "episode": ((), np.int64), "history": ((history_size,), np.int64),
        "next_history": ((history_size,), np.int64), "slate": ((k,), np.int64), "rewards": ((k,), np.float32),
        "next_available": ((train.candidates.shape[1],), np.bool_), "done": ((), np.bool_)}, seed=config.seed)
    user_all = torch.from_numpy(world.user_vectors[train.users])
    candidates_all = torch.from_numpy(train.candidates)
    tracker = CheckpointTracker(policy, world, valid)
    for iteration in tqdm(range(1, config.iterations + 1), desc="training kgdqn", unit="pass", leave=False,
                          disable=None):
        batch = world.batch(train, seed=config.seed * 1_000 + iteration)
        while not batch.done:
            history = batch.history.copy()
            with torch.no_grad():
                scores = policy.scores(PolicyInputs(user_all, torch.from_numpy(history), candidates_all)).numpy()
            explore = rng.random((len(train), 1)) < config.epsilon
            scores = np.where(explore, rng.random(scores.shape), scores)
            slate = slate_from_scores(scores, batch.available, k)
            _, item_rewards = batch.step(slate)
            rewards = np.where(np.isnan(item_rewards), world.config.miss_penalty, item_rewards)
            buffer.add(episode=np.arange(len(train)), history=history, next_history=batch.history.copy(),
                       slate=slate, rewards=rewards.astype(np.float32), next_available=batch.available.copy(),
                       done=np.full(len(train), batch.done))
            for _ in range(config.updates_per_step):
                _, sample, _ = buffer.sample(config.batch_size)
                loss, q = td_loss(policy, target, sample, user_all, candidates_all, config.gamma, k)
                optimiser.zero_grad()
                loss.backward()
                norm = gradient_norm(policy, clip=1.0)
                optimiser.step()
                tracker.result.log.log(td_loss=float(loss.detach()), mean_q=float(q.mean()), gradient_norm=norm)
                soft_update(target, policy, config.tau)
        tracker.evaluate(iteration)
    return tracker.finish()


def td_loss(policy: KGDQNPolicy, target: KGDQNPolicy, sample: dict[str, np.ndarray], user_all: torch.Tensor,
            candidates_all: torch.Tensor, gamma: float, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The Huber TD loss of the shown items' Q values, and those Q values."""
    episode = torch.from_numpy(sample["episode"])
    user, candidates = user_all[episode], candidates_all[episode]
    slate = torch.from_numpy(sample["slate"])
    with torch.no_grad():
        next_inputs = PolicyInputs(user, torch.from_numpy(sample["next_history"]), candidates)
        available = torch.from_numpy(sample["next_available"])
        online = policy.scores(next_inputs).masked_fill(~available, float("-inf"))
        chosen = online.topk(k, dim=1).indices  # double DQN: the online network picks, the target evaluates
        next_value = target.q_values(next_inputs).gather(1, chosen).mean(dim=1)
        done = torch.from_numpy(sample["done"]).float()
        y = torch.from_numpy(sample["rewards"]) + gamma * ((1 - done) * next_value).unsqueeze(1)
    q = policy.q_values(PolicyInputs(user, torch.from_numpy(sample["history"]), candidates)).gather(1, slate)
    return nn.functional.smooth_l1_loss(q, y), q.detach()
