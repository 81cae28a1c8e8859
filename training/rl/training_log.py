"""What a training loop logs per update, by name: losses, approximate KL, clip fraction, explained variance,
entropy, TD error, mean Q, gradient norm, and the validation return at each checkpoint evaluation.

The record of a checkpoint (policies.json, the simulator benchmark's runs) keeps at most ``points`` values per
name, each the mean of an equal run of updates, so that a long training stays a small record; the console's
learning-curve view draws them."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from torch import nn

RECORD_POINTS = 200


class TrainingLog:
    def __init__(self) -> None:
        self.updates = 0
        self.series: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def log(self, **metrics: float) -> None:
        """One update's metrics."""
        self.updates += 1
        for name, value in metrics.items():
            self.series[name].append((self.updates, float(value)))

    def note(self, **metrics: float) -> None:
        """Metrics taken between updates (the validation return), at the current update count."""
        for name, value in metrics.items():
            self.series[name].append((self.updates, float(value)))

    def record(self, points: int = RECORD_POINTS) -> dict[str, list[list[float]]]:
        """{name: [[update, value], ...]} with at most ``points`` entries per name (means of equal runs)."""
        thinned = {}
        for name, values in self.series.items():
            array = np.asarray(values, dtype=np.float64)
            if len(array) > points:
                array = np.stack([chunk.mean(0) for chunk in np.array_split(array, points)])
            thinned[name] = [[round(float(update), 1), float(value)] for update, value in array]
        return thinned


def gradient_norm(module: nn.Module, clip: float | None = None) -> float:
    """The global gradient norm of ``module``'s parameters (clipped to ``clip`` when given, as PPO does)."""
    parameters = [p for p in module.parameters() if p.grad is not None]
    if not parameters:
        return 0.0
    if clip is not None:
        return float(nn.utils.clip_grad_norm_(parameters, clip))
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters])))
