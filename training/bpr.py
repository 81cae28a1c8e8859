"""The training loop shared by the embedding encoders: BPR on sampled negatives with early stopping.

Loss (Rendle et al. 2009), per (user u, positive i, sampled negative j):
    -log sigmoid(s(u, i) - s(u, j)) + l2 * (||e_u||^2 + ||e_i||^2 + ||e_j||^2) / batch
where e_* are the ego (layer-0) embeddings, as in LightGCN. Every ``eval_every`` epochs the model ranks the
validation items (training items removed); the best state by NDCG@10 is kept and training stops after
``patience`` evaluations without improvement.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from tqdm import tqdm

from graphrec.training import distributed
from graphrec.training.models.base import ModelConfig
from graphrec.training.topk import ndcg_in_blocks
from graphrec.training.train_data import TrainData

log = logging.getLogger(__name__)


class BPRConfig(ModelConfig):
    """The hyper-parameters of every BPR-trained encoder; each encoder adds its own."""

    dim: int = 64
    lr: float = 1e-3
    l2: float = 1e-4  # weight of the ego-embedding L2 term
    batch_size: int = 2048
    epochs: int = 300  # upper bound; early stopping usually ends sooner
    eval_every: int = 5
    patience: int = 6  # evaluations without improvement before stopping
    device: str = "auto"


@dataclass
class FitHistory:
    best_epoch: int = 0
    best_ndcg: float = float("nan")
    epochs_run: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    valid_ndcg: list[tuple[int, float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)  # wall clock since the start, after each epoch


@dataclass
class WarmStart:
    """A previous encoder's parameters and where its rows went: ``user_rows[u]`` is the previous row of current
    user u (-1 for a user it never saw), likewise ``item_rows``; ``previous_users`` is its user count."""

    state: dict[str, torch.Tensor]
    user_rows: np.ndarray
    item_rows: np.ndarray
    previous_users: int
    # A warm start begins near the previous optimum: validation every 2 epochs, stopping after 3 without a gain,
    # instead of the cold schedule's 5 and 6 (30 epochs of patience).
    eval_every: int = 2
    patience: int = 3

    def copy_rows(self, table: torch.Tensor, previous: torch.Tensor, rows: np.ndarray, offset: int = 0) -> None:
        """Overwrite ``table``'s rows with their previous values where ``rows`` knows them."""
        kept = np.flatnonzero(rows >= 0)
        with torch.no_grad():
            table[torch.from_numpy(kept)] = previous[torch.from_numpy(rows[kept] + offset)].to(table)


class BPRLoss(nn.Module):
    """The batch loss of an encoder as a module's forward pass, which is what DistributedDataParallel wraps."""

    def __init__(self, encoder: BPREncoder, l2: float) -> None:
        super().__init__()
        self.encoder, self.l2 = encoder, l2

    def forward(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        user_emb, item_emb = self.encoder.embed()
        # index_select's backward adds rows; plain indexing's accumulating index_put is several times slower.
        eu = user_emb.index_select(0, u)
        margin = (eu * (item_emb.index_select(0, i) - item_emb.index_select(0, j))).sum(-1)
        return nn.functional.softplus(-margin).mean() + self.l2 * self.encoder.ego_norm(u, i, j) / len(u)


class BPREncoder(nn.Module):
    """An encoder trained by :func:`fit_bpr`: full-graph embeddings plus the ego embeddings it regularises."""

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(user embeddings, item embeddings) for every user and item."""
        raise NotImplementedError

    def ego_norm(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Sum of squared norms of the layer-0 parameters the batch touches."""
        raise NotImplementedError

    def warm_start(self, start: WarmStart) -> bool:
        """Start from a previous version's layer-0 rows for the users and items it knew (new ones keep their
        initialisation); False, leaving the encoder as built, when it cannot use ``start``."""
        return False

    def start_epoch(self, rng: np.random.Generator) -> None:
        """Called before each training epoch (encoders that sample neighbourhoods resample here)."""

    def end_training(self) -> None:
        """Called after training, before the final embeddings are read (restore full neighbourhoods)."""


def squared_norm(*rows: torch.Tensor) -> torch.Tensor:
    """Sum of squared entries over several gathered embedding rows: the ego-embedding L2 term."""
    return torch.stack([r.pow(2).sum() for r in rows]).sum()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class KnownPairs:
    """Membership test for training (user, item) pairs: a bitmap of users x items when that fits in
    ``BITMAP_MAX`` bytes (one random read per test), else the sorted pair keys (a binary search per test)."""

    BITMAP_MAX = 1 << 27

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int) -> None:
        self.n_items = n_items
        keys = users.astype(np.int64) * n_items + items
        size = (int(users.max()) + 1 if len(users) else 0) * n_items
        self.bitmap: np.ndarray | None = None
        if size <= self.BITMAP_MAX:
            self.bitmap = np.zeros(max(size, 1), dtype=bool)
            self.bitmap[keys] = True
        self.sorted_keys = np.sort(keys) if self.bitmap is None else None

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        if self.bitmap is not None:
            inside = keys < len(self.bitmap)
            return np.where(inside, self.bitmap[np.where(inside, keys, 0)], False)
        assert self.sorted_keys is not None
        found = np.minimum(np.searchsorted(self.sorted_keys, keys), len(self.sorted_keys) - 1)
        return self.sorted_keys[found] == keys


def sample_negatives(rng: np.random.Generator, users: np.ndarray, n_items: int, known: KnownPairs) -> np.ndarray:
    """Uniform items, redrawn (a few times) where the draw is one of the user's training items."""
    negatives = rng.integers(0, n_items, len(users))
    redo = np.arange(len(users))
    for _ in range(5):
        redo = redo[known.contains(users[redo], negatives[redo])]
        if not len(redo):
            break
        negatives[redo] = rng.integers(0, n_items, len(redo))
    return negatives


def fit_bpr(model: BPREncoder, data: TrainData, config: BPRConfig, valid: sp.csr_matrix | None,
            name: str = "model") -> FitHistory:
    """Train ``model`` in place; with ``valid``, keep the best state by validation NDCG@10."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device) if distributed.world_size() == 1 else distributed.process_device()
    model.to(device)
    step = distributed.wrap(BPRLoss(model, config.l2), device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    known = KnownPairs(data.users, data.items, data.n_items)
    train_matrix = data.matrix
    valid_users = np.flatnonzero(valid.getnnz(axis=1)) if valid is not None else None
    history = FitHistory()
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    progress = tqdm(range(1, config.epochs + 1), desc=f"training {name}", unit="epoch", leave=False,
                    disable=None)
    for epoch in progress:
        model.train()
        model.start_epoch(rng)
        order = rng.permutation(len(data.users))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            negatives = sample_negatives(rng, data.users[batch], data.n_items, known)
            share = distributed.local_share(np.arange(len(batch)))  # every process drew the same global batch
            u, i, j = (torch.from_numpy(column[share]).to(device)
                       for column in (data.users[batch], data.items[batch], negatives))
            loss = step(u, i, j)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.detach().item() * len(share)
        history.losses.append(distributed.sum_across(total) / len(order))
        history.epochs_run = epoch
        if valid is None or epoch % config.eval_every:
            history.epoch_seconds.append(time.perf_counter() - started)
            continue
        model.end_training()
        ndcg = distributed.from_main(validation_ndcg(model, train_matrix, valid, valid_users))
        history.valid_ndcg.append((epoch, ndcg))
        progress.set_postfix(loss=f"{history.losses[-1]:.4f}", valid_ndcg=f"{ndcg:.4f}")
        log.info("%s epoch %d loss %.4f valid ndcg@10 %.4f", name, epoch, history.losses[-1], ndcg)
        history.epoch_seconds.append(time.perf_counter() - started)
        if not ndcg <= history.best_ndcg:  # also true for the first evaluation (nan)
            history.best_ndcg, history.best_epoch, stale = ndcg, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    progress.close()
    model.end_training()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = history.epochs_run
    history.seconds = time.perf_counter() - started
    return history


@torch.no_grad()
def validation_ndcg(model: BPREncoder, train_matrix: sp.csr_matrix, valid: sp.csr_matrix,
                    users: np.ndarray) -> float:
    """NDCG@10 of ``users`` on ``valid``, scored in blocks of users so memory stays bounded."""
    model.eval()
    user_emb, item_emb = model.embed()
    rows = torch.from_numpy(users).to(user_emb.device)

    def scores(start: int, stop: int) -> np.ndarray:
        return (user_emb[rows[start:stop]] @ item_emb.T).cpu().numpy()

    return ndcg_in_blocks(len(users), scores, train_matrix[users], valid[users])
