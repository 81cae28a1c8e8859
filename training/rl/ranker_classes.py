"""Rankers with checkpoints by name (training.names.RankingPolicy and BaselineRanker) -> their classes."""

from __future__ import annotations

from graphrec.training.names import BaselineRanker, RankingPolicy
from graphrec.training.rl.drr import DRRPolicy
from graphrec.training.rl.kgdqn import KGDQNPolicy
from graphrec.training.rl.nets import CandidatePolicy
from graphrec.training.rl.ppo import PPOPolicy
from graphrec.training.rl.reference_rankers import BLENDS
from graphrec.training.rl.slateq import SlateQPolicy

POLICIES: dict[str, type[CandidatePolicy]] = {
    **{RankingPolicy(cls.name): cls for cls in (DRRPolicy, PPOPolicy, KGDQNPolicy)}, **BLENDS}
assert set(POLICIES) == {*RankingPolicy, *BaselineRanker}, "training.names names every ranker of the registry"
SIMULATOR_ONLY: dict[str, type[CandidatePolicy]] = {SlateQPolicy.name: SlateQPolicy}  # checkpoints, never served


def policy_class(name: str) -> type[CandidatePolicy]:
    known = {**POLICIES, **SIMULATOR_ONLY}
    if name not in known:
        raise KeyError(f"unknown policy {name!r}; choose one of {', '.join(known)}")
    return known[name]
