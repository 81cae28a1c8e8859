"""Glue between the harness and the BPR-trained PyTorch encoders."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import scipy.sparse as sp
import torch

from graphrec.training.bpr import BPRConfig, BPREncoder, FitHistory, WarmStart, fit_bpr
from graphrec.training.models.base import EmbeddingRecommender, ModelConfig
from graphrec.training.train_data import TrainData


class TorchRecommender(EmbeddingRecommender):
    """Builds an encoder, trains it with BPR and keeps the final user and item embeddings."""

    Config: ClassVar[type[ModelConfig]] = BPRConfig
    config: BPRConfig
    module: BPREncoder
    history: FitHistory
    warm_started = False

    @abstractmethod
    def build(self, data: TrainData, config: BPRConfig) -> BPREncoder: ...

    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None, warm: WarmStart | None = None) -> None:
        config = self.config
        torch.manual_seed(config.seed)  # the initial weights too: one seed, one encoder
        self.module = self.build(data, config)
        self.warm_started = warm is not None and self.module.warm_start(warm)
        if self.warm_started:
            assert warm is not None
            config = config.model_copy(update={"eval_every": warm.eval_every, "patience": warm.patience})
        self.history = fit_bpr(self.module, data, config, valid, self.name)
        self.module.eval()
        with torch.no_grad():
            users, items = self.module.embed()
        self.user_vectors = users.detach().cpu().numpy()
        self.item_vectors = items.detach().cpu().numpy()

    def tuned_config(self) -> dict[str, Any]:
        # Refit on the whole training part for as many epochs as validation found best.
        return {**self.config.model_dump(exclude_unset=True), "epochs": max(1, self.history.best_epoch)}
