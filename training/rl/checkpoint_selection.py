"""Checkpoint selection on validation episodes (carved from the training users), and the learning curve."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from graphrec.training.rl.logreplay import Episodes, ReplayWorld, ndcg_floor
from graphrec.training.rl.nets import CandidatePolicy
from graphrec.training.rl.rollout import greedy_scores, policy_scores, run_episodes
from graphrec.training.rl.training_log import TrainingLog


@dataclass
class TrainedPolicy:
    policy: CandidatePolicy
    curve: list[tuple[int, float]] = field(default_factory=list)  # (iteration, validation mean return)
    best_iteration: int = 0
    seconds: float = 0.0
    log: TrainingLog = field(default_factory=TrainingLog)  # metrics by name per update (training.rl.training_log)


class CheckpointTracker:
    """Scores the policy on the validation episodes after each iteration and keeps the state with the best
    mean return among those whose validation NDCG@10 stays within the world's guard (LogReplayConfig
    .ndcg_tolerance) of the greedy ranking's, the rule every baseline's weights are chosen by too. Iteration 0 is
    the untrained policy, which ranks as its starting blend does; if no iteration passes the guard, that is the
    state kept."""

    def __init__(self, policy: CandidatePolicy, world: ReplayWorld, valid: Episodes) -> None:
        self.policy = policy
        self.world = world
        self.valid = valid
        self.started = time.perf_counter()
        self.result = TrainedPolicy(policy)
        self.best_return = float("-inf")
        self.best_state = copy.deepcopy(policy.state_dict())
        self.ndcg_floor = ndcg_floor(world.config, run_episodes(greedy_scores(world), world, valid).ndcg_at_10)
        self.evaluate(0)

    def evaluate(self, iteration: int) -> float:
        stats = run_episodes(policy_scores(self.policy, self.world), self.world, self.valid)
        value = stats.mean_return
        self.policy.train()
        self.result.curve.append((iteration, value))
        self.result.log.note(validation_return=value)
        if value > self.best_return and stats.ndcg_at_10 >= self.ndcg_floor:
            self.best_return = value
            self.best_state = copy.deepcopy(self.policy.state_dict())
            self.result.best_iteration = iteration
        return value

    def finish(self) -> TrainedPolicy:
        self.policy.load_state_dict(self.best_state)
        self.policy.eval()
        self.result.seconds = time.perf_counter() - self.started
        return self.result
