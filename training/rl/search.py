"""RL hyper-parameters chosen on validation episodes only: a small grid per policy, every point recorded.

Each grid point trains the policy on one world's training episodes and scores it by its best validation return
(validation users carved from the training episodes, as checkpoints are picked: training.rl.checkpoint_selection); the
point of highest return is chosen. Test episodes are never read. The grids hold the knobs each trainer's
docstring names as sensitive (learning rates, exploration), around the defaults.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from graphrec.training.rl.logreplay import ReplayWorld
from graphrec.training.rl.policy_comparison import TRAINERS

log = logging.getLogger(__name__)

GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "drr": {"actor_lr": (1e-5, 3e-5, 1e-4), "noise": (0.1, 0.2)},
    "ppo": {"lr": (1e-4, 3e-4, 1e-3), "entropy_weight": (1e-3, 1e-2)},
    "kgdqn": {"lr": (3e-6, 1e-5, 3e-5)},
}


@dataclass
class SearchResult:
    policy: str
    chosen: dict[str, float]  # the grid point of best validation return
    tried: list[dict[str, Any]]  # every grid point with its validation return and training seconds


def search(world: ReplayWorld, name: str, seed: int, grid: dict[str, tuple[float, ...]] | None = None,
           start: dict[str, float] | None = None, base: Any = None) -> SearchResult:
    """Train ``name`` at every point of ``grid`` (default GRIDS[name]) on ``world`` and keep the best by
    validation return."""
    train, config_type = TRAINERS[name]
    grid = GRIDS[name] if grid is None else grid
    tried = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values, strict=True))
        config = replace(base or config_type(), seed=seed, **(start or {}), **point)
        trained = train(world, config)
        validation = dict(trained.curve)[trained.best_iteration]
        tried.append({**point, "validation_return": validation, "best_iteration": trained.best_iteration,
                      "seconds": trained.seconds})
        log.info("search %s %s: validation return %.4f", name, point, validation)
    best = max(tried, key=lambda row: row["validation_return"])
    return SearchResult(name, {key: best[key] for key in grid}, tried)


def save_search(result: SearchResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(result), indent=2))


def load_search(path: Path) -> SearchResult | None:
    return SearchResult(**json.loads(path.read_text())) if path.is_file() else None
