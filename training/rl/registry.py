"""Policy names -> classes, for checkpoints and the CLI."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from graphrec.training.names import RankingPolicy
from graphrec.training.rl.drr import DRRPolicy
from graphrec.training.rl.kgdqn import KGDQNPolicy
from graphrec.training.rl.nets import CandidatePolicy
from graphrec.training.rl.ppo import PPOPolicy

POLICIES: dict[str, type[CandidatePolicy]] = {
    RankingPolicy(cls.name): cls for cls in (DRRPolicy, PPOPolicy, KGDQNPolicy)}
assert set(POLICIES) == set(RankingPolicy), "training.names.RankingPolicy names every policy of the registry"


def policy_class(name: str) -> type[CandidatePolicy]:
    if name not in POLICIES:
        raise KeyError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[name]


def load_policy(path: Path) -> CandidatePolicy:
    """A policy checkpoint written by save_policy, ready to score (eval mode). Loaded weights-only: a checkpoint
    is data, and a file that needs pickled code to load is refused rather than run."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}: not a weights-only policy checkpoint (one written before checkpoints held "
                         "tensors only, or not by graphrec); run `graphrec train-policy` on this version again") \
            from error
    cls = policy_class(saved["name"])
    policy = cls.build(saved["item_vectors"].numpy(), saved["item_quality"].numpy(),
                       cls.config_type(**saved["config"]), **saved["extra"])
    policy.load_state_dict(saved["state"])
    policy.eval()
    return policy
