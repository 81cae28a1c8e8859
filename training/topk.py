"""Top-k selection with the user's training items removed, and the NDCG@k of such a selection."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from graphrec.training.ranking_metrics import ranking_metrics

SCORE_BLOCK = 1_024  # rows scored at once by top_k_in_blocks: a block of scores is this x items


def top_k(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    """Indices of the k best-scored items per row, best first, never an item of ``seen``'s row."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    rows, cols = seen.nonzero()
    scores[rows, cols] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def top_k_in_blocks(rows: int, scores: Callable[[int, int], np.ndarray], seen: sp.csr_matrix, k: int) -> np.ndarray:
    """top_k of ``rows`` rows whose scores ``scores(start, stop)`` gives SCORE_BLOCK rows at a time, so memory
    stays bounded whatever the number of rows; row i of ``seen`` belongs to row i."""
    parts = [top_k(scores(start, min(start + SCORE_BLOCK, rows)), seen[start:start + SCORE_BLOCK], k)
             for start in range(0, rows, SCORE_BLOCK)]
    return np.vstack(parts) if parts else np.zeros((0, k), dtype=np.int64)


def ndcg_in_blocks(rows: int, scores: Callable[[int, int], np.ndarray], seen: sp.csr_matrix, relevant: sp.csr_matrix,
                   k: int = 10) -> float:
    """NDCG@k of top_k_in_blocks' selection against ``relevant`` (row i belongs to row i, as ``seen``'s)."""
    return ranking_metrics(top_k_in_blocks(rows, scores, seen, k), relevant, k)[f"ndcg@{k}"]
