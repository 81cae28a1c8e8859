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
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from tqdm import tqdm

from graphrec.training.data import TrainData
from graphrec.training.metrics import ranking_metrics
from graphrec.training.topk import top_k

log = logging.getLogger(__name__)


@dataclass
class BPRConfig:
    dim: int = 64
    lr: float = 1e-3
    l2: float = 1e-4  # weight of the ego-embedding L2 term
    batch_size: int = 2048
    epochs: int = 300  # upper bound; early stopping usually ends sooner
    eval_every: int = 5
    patience: int = 6  # evaluations without improvement before stopping
    seed: int = 42
    device: str = "auto"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BPRConfig:
        known = {k: v for k, v in config.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class FitHistory:
    best_epoch: int = 0
    best_ndcg: float = float("nan")
    epochs_run: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    valid_ndcg: list[tuple[int, float]] = field(default_factory=list)


class BPREncoder(nn.Module):
    """An encoder trained by :func:`fit_bpr`: full-graph embeddings plus the ego embeddings it regularises."""

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(user embeddings, item embeddings) for every user and item."""
        raise NotImplementedError

    def ego_norm(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Sum of squared norms of the layer-0 parameters the batch touches."""
        raise NotImplementedError

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


def sample_negatives(rng: np.random.Generator, users: np.ndarray, n_items: int, known: np.ndarray) -> np.ndarray:
    """Uniform items, redrawn (a few times) where the draw is one of the user's training items.

    ``known`` holds user * n_items + item for every training pair, sorted.
    """
    negatives = rng.integers(0, n_items, len(users))
    for _ in range(5):
        keys = users.astype(np.int64) * n_items + negatives
        clash = known[np.minimum(np.searchsorted(known, keys), len(known) - 1)] == keys  # known is sorted
        if not clash.any():
            break
        negatives[clash] = rng.integers(0, n_items, int(clash.sum()))
    return negatives


def fit_bpr(model: BPREncoder, data: TrainData, config: BPRConfig, valid: sp.csr_matrix | None,
            name: str = "model") -> FitHistory:
    """Train ``model`` in place; with ``valid``, keep the best state by validation NDCG@10."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    known = np.sort(data.users.astype(np.int64) * data.n_items + data.items)
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
            users = data.users[batch]
            negatives = sample_negatives(rng, users, data.n_items, known)
            u = torch.from_numpy(users).to(device)
            i = torch.from_numpy(data.items[batch]).to(device)
            j = torch.from_numpy(negatives).to(device)
            user_emb, item_emb = model.embed()
            eu = user_emb[u]
            margin = (eu * item_emb[i]).sum(-1) - (eu * item_emb[j]).sum(-1)
            loss = nn.functional.softplus(-margin).mean() + config.l2 * model.ego_norm(u, i, j) / len(batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.detach().item() * len(batch)
        history.losses.append(total / len(order))
        history.epochs_run = epoch
        if valid is None or epoch % config.eval_every:
            continue
        model.end_training()
        ndcg = validation_ndcg(model, train_matrix, valid, valid_users)
        history.valid_ndcg.append((epoch, ndcg))
        progress.set_postfix(loss=f"{history.losses[-1]:.4f}", valid_ndcg=f"{ndcg:.4f}")
        log.info("%s epoch %d loss %.4f valid ndcg@10 %.4f", name, epoch, history.losses[-1], ndcg)
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
    model.eval()
    user_emb, item_emb = model.embed()
    scores = (user_emb[torch.from_numpy(users).to(user_emb.device)] @ item_emb.T).cpu().numpy()
    top = top_k(scores, train_matrix[users], 10)
    return ranking_metrics(top, valid[users], 10)["ndcg@10"]
