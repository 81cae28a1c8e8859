"""Experience replay over log-replay transitions: uniform (KG-DQN) and proportional prioritized (DRR).

A transition is stored as arrays: the user's row, the history before and after the step, the candidates
available after it, the action (a slate of candidate positions and, for DRR, the action vector), the
per-item rewards and whether the episode ended. Prioritized replay follows Schaul et al. (2016): sample i
with probability p_i^alpha / sum p^alpha, weight it by (N P(i))^-beta / max, and set p_i = |TD error| + eps.
"""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    def __init__(self, capacity: int, fields: dict[str, tuple[tuple[int, ...], np.dtype]], alpha: float = 0.0,
                 seed: int = 0) -> None:
        self.capacity = capacity
        self.data = {name: np.zeros((capacity, *shape), dtype=dtype) for name, (shape, dtype) in fields.items()}
        self.priority = np.zeros(capacity)
        self.alpha = alpha  # 0: uniform replay
        self.size = 0
        self.cursor = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, **batch: np.ndarray) -> None:
        count = len(next(iter(batch.values())))
        slots = (self.cursor + np.arange(count)) % self.capacity
        for name, values in batch.items():
            self.data[name][slots] = values
        # New transitions get the highest priority so far: each is replayed at least once soon.
        self.priority[slots] = self.priority[: self.size].max() if self.size else 1.0
        self.cursor = int((self.cursor + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    def sample(self, count: int, beta: float = 0.4) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """(slots, transitions, importance weights)."""
        if self.alpha == 0.0:
            slots = self.rng.integers(0, self.size, count)
            return slots, {name: values[slots] for name, values in self.data.items()}, np.ones(count)
        scaled = self.priority[: self.size] ** self.alpha
        probabilities = scaled / scaled.sum()
        slots = self.rng.choice(self.size, size=count, p=probabilities)
        weights = (self.size * probabilities[slots]) ** -beta
        return slots, {name: values[slots] for name, values in self.data.items()}, weights / weights.max()

    def update_priorities(self, slots: np.ndarray, errors: np.ndarray) -> None:
        self.priority[slots] = np.abs(errors) + 1e-3
