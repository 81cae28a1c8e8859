"""Strong simple baselines: popularity, item-based kNN (cosine), RP3beta (random walks), EASE (closed form).

Tuned simple baselines beat many neural recommenders (Dacrema et al. 2019; Anelli et al. 2022), so every
comparison table carries them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.training.models.base import ModelConfig, Recommender
from graphrec.training.topk import ndcg_in_blocks
from graphrec.training.train_data import TrainData

# Item-item models hold a dense n_items x n_items matrix: 40k items is 6.4 GB in float32.
MAX_DENSE_ITEMS = 40_000


def require_dense_size(data: TrainData, model: str) -> None:
    if data.n_items > MAX_DENSE_ITEMS:
        raise ValueError(f"{model} keeps a dense item-item matrix; {data.n_items:,} items exceed its limit of "
                         f"{MAX_DENSE_ITEMS:,} (filter rare items first, or leave {model} out)")


class Popularity(Recommender):
    """Items ranked by their number of training interactions, the same list for everyone."""

    name = "popularity"

    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None) -> None:
        self.counts = data.item_counts().astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), len(self.counts))).copy()


class ItemKNNConfig(ModelConfig):
    neighbours: int = 100
    shrink: float = 0.0


class ItemKNN(Recommender):
    """Item-based kNN: s(u, i) = sum over the user's items j of sim(j, i), sim = shrunk cosine, top-k per item."""

    name = "itemknn"
    Config: ClassVar[type[ModelConfig]] = ItemKNNConfig
    config: ItemKNNConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    grid: ClassVar[list[dict[str, Any]]] = [{"neighbours": n, "shrink": s} for n in (50, 100, 200, 400)
                                            for s in (0.0, 10.0)]

    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None) -> None:
        require_dense_size(data, self.name)
        x = data.matrix
        self.x = x
        co = (x.T @ x).toarray().astype(np.float32)
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.config.shrink + 1e-9)
        np.fill_diagonal(sim, 0.0)
        k = min(self.config.neighbours, sim.shape[0] - 1)
        if k > 0:
            # Keep each item's k most similar items (its column), zero the rest.
            cut = np.argpartition(-sim, k - 1, axis=0)[k:]
            np.put_along_axis(sim, cut, 0.0, axis=0)
        self.sim = sim

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.x[users] @ self.sim, dtype=np.float32)


class RP3betaConfig(ModelConfig):
    alpha: float = 1.0
    beta: float = 0.3
    neighbours: int = 200


class RP3beta(Recommender):
    """RP3beta (Paudel et al. 2017): three-step random walks user -> item -> user -> item on the bipartite graph,
    transition probabilities raised to ``alpha``, each target item's weight divided by its popularity to the
    power ``beta`` (long-tail items gain), each item's ``neighbours`` strongest targets kept:

        W = (P_iu^alpha P_ui^alpha) diag(pop^-beta),   s(u, .) = x_u W

    A graph baseline as strong as the linear ones on MovieLens (Dacrema et al. 2019)."""

    name = "rp3beta"
    Config: ClassVar[type[ModelConfig]] = RP3betaConfig
    config: RP3betaConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    grid: ClassVar[list[dict[str, Any]]] = [{"alpha": 1.0, "beta": 0.3, "neighbours": 200}] + [
        {"alpha": a, "beta": b, "neighbours": n} for a in (0.6, 1.0) for b in (0.0, 0.15, 0.3, 0.45)
        for n in (100, 200) if (a, b, n) != (1.0, 0.3, 200)]

    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None) -> None:
        require_dense_size(data, self.name)
        x = data.matrix.astype(np.float32)
        alpha, beta = self.config.alpha, self.config.beta

        def transitions(m: sp.csr_matrix) -> sp.csr_matrix:
            degree = np.asarray(m.sum(axis=1)).ravel()
            walk = sp.diags(1.0 / np.maximum(degree, 1.0)) @ m
            return walk.power(alpha).tocsr()

        w = (transitions(x.T.tocsr()) @ transitions(x)).toarray()
        popularity = np.asarray(x.sum(axis=0)).ravel()
        w /= np.power(np.maximum(popularity, 1.0), beta)[None, :]
        np.fill_diagonal(w, 0.0)
        k = min(self.config.neighbours, w.shape[1] - 1)
        if k > 0:  # keep each item's k strongest targets (its row)
            cut = np.argpartition(-w, k - 1, axis=1)[:, k:]
            np.put_along_axis(w, cut, 0.0, axis=1)
        self.x, self.w = x, w.astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.x[users] @ self.w, dtype=np.float32)


class EASEConfig(ModelConfig):
    l2: float = 300.0


class EASE(Recommender):
    """EASE (Steck 2019): B = argmin ||X - XB||^2 + lambda ||B||^2 with diag(B) = 0, in closed form:
    P = (X^T X + lambda I)^-1, B = -P / diag(P), diag(B) = 0; scores X B."""

    name = "ease"
    Config: ClassVar[type[ModelConfig]] = EASEConfig
    config: EASEConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    grid: ClassVar[list[dict[str, Any]]] = [{"l2": v} for v in (300.0, 50.0, 100.0, 200.0, 500.0, 800.0, 1500.0)]

    def gram(self, data: TrainData) -> np.ndarray:
        return (data.matrix.T @ data.matrix).toarray()

    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None) -> None:
        require_dense_size(data, self.name)
        self.x = data.matrix
        gram = torch.from_numpy(self.gram(data)).float()
        gram.diagonal().add_(self.config.l2)
        # G + lambda I is symmetric positive definite: a Cholesky inverse costs half an LU inverse, and float32
        # halves it again. Only near-tied scores order differently from a float64 solve (BENCHMARKS.md).
        p = torch.cholesky_inverse(torch.linalg.cholesky(gram)).double()
        b = -p / p.diagonal()
        b.fill_diagonal_(0.0)
        self.b = b.float().numpy()

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.x[users] @ self.b, dtype=np.float32)


class KnowledgeEASEConfig(EASEConfig):
    alpha: float = 3.0


class KnowledgeEASE(EASE):
    """EASE with the knowledge graph as side information (after SSLIM, Ning & Karypis 2012): each entity joins
    X as an extra row over the items it links, weighted alpha, so the Gram matrix becomes

        G = X^T X + alpha^2 F F^T          (F: items x entities, 1 where the item links the entity)

    and items that share genres, years or artists share weight even with few co-interactions."""

    name = "kgease"
    Config: ClassVar[type[ModelConfig]] = KnowledgeEASEConfig
    config: KnowledgeEASEConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    grid: ClassVar[list[dict[str, Any]]] = [{"l2": 500.0, "alpha": 3.0}] + [
        {"l2": l2, "alpha": a} for l2 in (200.0, 300.0, 500.0, 800.0) for a in (1.0, 2.0, 3.0, 4.0, 6.0)
        if (l2, a) != (500.0, 3.0)]

    def gram(self, data: TrainData) -> np.ndarray:
        if data.kg is None:
            raise ValueError("kgease needs item-entity triples")
        kg = data.kg
        links = sp.csr_matrix((np.ones(len(kg.item), dtype=np.float32), (kg.item, kg.entity)),
                              shape=(data.n_items, kg.n_entities))
        alpha = self.config.alpha
        return super().gram(data) + alpha**2 * (links @ links.T).toarray()


class DebiasedKnowledgeEASEConfig(KnowledgeEASEConfig):
    beta: float | None = None  # the popularity exponent; None: chosen on validation (DEFAULT_BETA without one)


class DebiasedKnowledgeEASE(KnowledgeEASE):
    """kgease with each target item's score divided by its training popularity to the power ``beta``, as RP3beta
    weighs its walks (Paudel et al. 2017): EASE's closed form favours popular items beyond what the held-out
    interactions of a user support, and the exponent trades them for long-tail items.

    beta needs no new solve, so fit() with a validation part tries every value of BETAS on it and keeps the best
    (tuned_config() carries it to the refit); l2 and alpha come from the grid as kgease's do."""

    name = "kgease_beta"
    Config: ClassVar[type[ModelConfig]] = DebiasedKnowledgeEASEConfig
    config: DebiasedKnowledgeEASEConfig  # pyright: ignore[reportIncompatibleVariableOverride]
    BETAS: ClassVar[tuple[float, ...]] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    DEFAULT_BETA = 0.1  # without a configured beta or a validation part to choose one

    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None) -> None:
        super().fit(data, valid)
        self.popularity = np.maximum(data.item_counts(), 1).astype(np.float32)
        if valid is not None and self.config.beta is None:
            users = np.flatnonzero(valid.getnnz(axis=1))
            seen = data.matrix[users]

            def valid_ndcg(beta: float) -> float:
                self.config = self.config.model_copy(update={"beta": beta})
                return ndcg_in_blocks(len(users), lambda start, stop: self.score(users[start:stop]), seen,
                                      valid[users])

            self.config = self.config.model_copy(update={"beta": max(self.BETAS, key=valid_ndcg)})  # pyright: ignore[reportIncompatibleVariableOverride]

    @property
    def beta(self) -> float:
        return self.DEFAULT_BETA if self.config.beta is None else self.config.beta

    def score(self, users: np.ndarray) -> np.ndarray:
        return super().score(users) * np.power(self.popularity, -self.beta)
