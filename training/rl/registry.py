"""Ranking policies by name (training.names.RankingPolicy) -> their classes, for checkpoints and training."""

from __future__ import annotations

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
