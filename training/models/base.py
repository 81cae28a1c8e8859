"""What every recommender in the harness provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, ValidationError

from graphrec.training.train_data import TrainData


class ModelConfig(BaseModel):
    """A model's hyper-parameters. An unknown key is refused: a mistyped `layer` would otherwise train with the
    default and say nothing."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42


class Recommender(ABC):
    """fit on training edges, then score every item for a batch of users (higher is better)."""

    name: ClassVar[str]
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    # Candidate hyper-parameters, tried on the validation split; the first entry is the default.
    grid: ClassVar[list[dict[str, Any]]] = [{}]

    def __init__(self, **config: Any) -> None:
        try:
            self.config = self.Config(**config)
        except ValidationError as error:
            raise ValueError(f"{self.name}'s configuration: {error}") from None

    @abstractmethod
    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None) -> None: ...

    @abstractmethod
    def score(self, users: np.ndarray) -> np.ndarray:
        """Scores of shape (len(users), n_items)."""

    def tuned_config(self) -> dict[str, Any]:
        """The configuration to refit with on the full training part (torch models add their best epoch)."""
        return self.config.model_dump(exclude_unset=True)


class EmbeddingRecommender(Recommender):
    """A recommender whose score is the inner product of a user and an item embedding."""

    user_vectors: np.ndarray
    item_vectors: np.ndarray

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_vectors[users] @ self.item_vectors.T
