"""Top-k ranking metrics with the Microsoft Recommenders definitions (binary relevance, k = 10 by default).

precision@k = hits / k                      recall@k = hits / |test items of the user|
ndcg@k      = DCG / IDCG, gain 1 per hit, discount 1 / log2(rank + 1), IDCG over min(k, |test|) hits
map         = sum of precision at each hit rank / |test items|       (Recommenders' "map", not truncated MAP)
mrr@k       = 1 / rank of the first hit      hit@k = 1 if any hit
Each is averaged over the users that have test items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def hit_matrix(top_items: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """hits[u, r] = 1 when the item at rank r of user u's list is relevant to u."""
    rows = np.arange(top_items.shape[0])[:, None]
    return np.asarray(relevant[rows, top_items].todense() > 0, dtype=np.float64)


def ndcg_per_user(top_items: np.ndarray, relevant: sp.csr_matrix, k: int = 10) -> np.ndarray:
    """NDCG@k of each row of ``relevant`` that has a relevant item, in row order: what paired comparisons of two
    rankers over the same users resample (training.paired)."""
    n_relevant = np.asarray(relevant.getnnz(axis=1))
    users = np.flatnonzero(n_relevant > 0)
    return ndcg_of_hits(hit_matrix(top_items[users, :k], relevant[users]), n_relevant[users])


def ndcg_of_hits(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """NDCG of each row of ``hits`` (users x k ranks) for users with ``n_relevant`` relevant items."""
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    return (hits @ discounts) / np.cumsum(discounts)[np.minimum(n_relevant, k).astype(int) - 1]


def ranking_metrics(top_items: np.ndarray, relevant: sp.csr_matrix, k: int = 10) -> dict[str, float]:
    """Average metrics over the users (rows) of ``relevant`` that have at least one relevant item."""
    n_relevant = np.asarray(relevant.getnnz(axis=1))
    users = np.flatnonzero(n_relevant > 0)
    hits = hit_matrix(top_items[users, :k], relevant[users])
    n_rel = n_relevant[users].astype(np.float64)
    cumulative_hits = np.cumsum(hits, axis=1)
    precision_at_rank = cumulative_hits / np.arange(1, k + 1)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    return {
        f"ndcg@{k}": float(np.mean(ndcg_of_hits(hits, n_rel))),
        f"precision@{k}": float(np.mean(hits.sum(axis=1) / k)),
        f"recall@{k}": float(np.mean(hits.sum(axis=1) / n_rel)),
        "map": float(np.mean((precision_at_rank * hits).sum(axis=1) / n_rel)),
        f"mrr@{k}": float(np.mean(1.0 / first_hit)),
        f"hit@{k}": float(np.mean(hits.any(axis=1))),
    }
