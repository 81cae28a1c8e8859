"""Policy names -> classes, for checkpoints and the CLI."""

from __future__ import annotations

from training.rl.drr import DRRPolicy
from training.rl.kgdqn import KGDQNPolicy
from training.rl.nets import CandidatePolicy
from training.rl.ppo import PPOPolicy

POLICIES: dict[str, type[CandidatePolicy]] = {cls.name: cls for cls in (DRRPolicy, PPOPolicy, KGDQNPolicy)}


def policy_class(name: str) -> type[CandidatePolicy]:
    if name not in POLICIES:
        raise KeyError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[name]
