"""Policy names -> classes, for checkpoints and the CLI."""

from __future__ import annotations

from pathlib import Path

import torch

from training.rl.drr import DRRPolicy
from training.rl.kgdqn import KGDQNPolicy
from training.rl.nets import CandidatePolicy
from training.rl.ppo import PPOPolicy

POLICIES: dict[str, type[CandidatePolicy]] = {cls.name: cls for cls in (DRRPolicy, PPOPolicy, KGDQNPolicy)}


def policy_class(name: str) -> type[CandidatePolicy]:
    if name not in POLICIES:
        raise KeyError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[name]


def load_policy(path: Path) -> CandidatePolicy:
    """A policy checkpoint written by save_policy, ready to score (eval mode)."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    cls = policy_class(saved["name"])
    policy = cls.build(saved["item_vectors"], saved["item_quality"], cls.config_type(**saved["config"]),
                       **saved["extra"])
    policy.load_state_dict(saved["state"])
    policy.eval()
    return policy
