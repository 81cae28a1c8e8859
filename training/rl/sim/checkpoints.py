"""`graphrec train-policy --env <simulator>`: one policy trained in a reactive simulator, scored on held-out
simulated users beside the greedy ranking, saved as a checkpoint with its record (config, learning curve and
every training metric by name, training.rl.training_log)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphrec.training.rl.checkpoint_files import save_policy
from graphrec.training.rl.policy_configs import with_overrides
from graphrec.training.rl.sim.baselines import BASELINES
from graphrec.training.rl.sim.envs import SPECS
from graphrec.training.rl.sim.play import play_sessions
from graphrec.training.rl.sim.train import (
    SimTraining,
    policy_ranker,
    train_in_simulator,
    training_stream,
    user_seeds,
)

VALIDATION_USERS = 100


def record_name(policy: str, env: str) -> str:
    """The key of a simulator checkpoint's record: never a name the service serves by."""
    return f"{policy}@{env}"


def train_simulator_checkpoint(env: str, policy: str, seed: int, overrides: dict[str, Any], steps: int,
                               held_out: int, out: Path) -> tuple[Path, dict[str, Any]]:
    """Trains ``policy`` in ``env``; writes OUT/<policy>@<env>.pt and returns its path and record."""
    spec = SPECS[env]
    config = with_overrides(policy, overrides, seed=seed)
    training = SimTraining()
    # no more checkpoint evaluations than batches of steps (a smoke run of a few batches evaluates once or twice)
    training = replace(training, steps=steps, evaluations=max(1, min(training.evaluations, steps // training.envs)))
    trained = train_in_simulator(policy, spec, config, training, training_stream(seed),
                                 user_seeds("validation", seed, VALIDATION_USERS))
    test = user_seeds("test", seed, held_out)
    ours = play_sessions(policy_ranker(trained.policy), spec, test)
    greedy = play_sessions(BASELINES["greedy"], spec, test)
    record = {"policy": policy, "env": env, "trained": datetime.now(UTC).isoformat(), "seed": seed,
              "seconds": trained.seconds, "config": asdict(config), "training": asdict(training),
              "best_step": int(trained.best_iteration), "curve": trained.curve, "metrics": trained.log.record(),
              "held_out_users": held_out, "simulator_return": ours.mean_return,
              "greedy_simulator_return": greedy.mean_return}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{record_name(policy, env)}.pt"
    save_policy(trained.policy, path)
    return path, record
