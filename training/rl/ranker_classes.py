"""Rankers with checkpoints by name (training.names.RankingPolicy and BaselineRanker) -> their classes."""

from __future__ import annotations

from graphrec.training.names import BaselineRanker, RankingPolicy
from graphrec.training.rl.drr import DRRPolicy
from graphrec.training.rl.kgdqn import KGDQNPolicy
from graphrec.training.rl.nets import CandidatePolicy
from graphrec.training.rl.ppo import PPOPolicy
from graphrec.training.rl.reference_rankers import BLENDS

POLICIES: dict[str, type[CandidatePolicy]] = {
    **{RankingPolicy(cls.name): cls for cls in (DRRPolicy, PPOPolicy, KGDQNPolicy)}, **BLENDS}
assert set(POLICIES) == {*RankingPolicy, *BaselineRanker}, "training.names names every ranker of the registry"


def policy_class(name: str) -> type[CandidatePolicy]:
    if name not in POLICIES:
        raise KeyError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[name]
