"""`graphrec train-policy --env logreplay|gan`: train a policy against an artifact version; a new version holds it.

The policy must rank with the embeddings the service serves, so the world is the version's own: its
embeddings, and episodes whose targets are the version's holdout pairs (training.splits.holdout_split; the
encoder never fit them) with the rest of each user's interactions as context. Users are divided by a stable
hash: most train the policy (a share of them picks its checkpoint), the rest only measure it against greedy.
The graph's interactions include what /v1/feedback wrote into it (serving/feedback/writer.py), so each run
learns from the feedback collected since the last.

A published version never changes, so the checkpoint lands in a new version derived from the one it was
trained on (training.artifacts.derive_version): the base's files, plus policies/<name>.pt and its record in
policies.json. Once that version is published, running services swap to it like to any other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrec.training.artifacts import (
    ArtifactError,
    ArtifactVersion,
    derive_version,
    read_manifest,
    replace_file,
)
from graphrec.training.names import BaselineRanker
from graphrec.training.rl.checkpoint_files import save_policy
from graphrec.training.rl.logreplay import (
    LogReplayConfig,
    ReplayWorld,
    build_episodes,
    item_entity_matrix,
    item_quality,
    pair_rewards,
)
from graphrec.training.rl.policy_comparison import TRAINERS, VALIDATION_FRACTION, world_fingerprint
from graphrec.training.rl.reference_rankers import start_weights, tune_blend
from graphrec.training.rl.rollout import greedy_scores, policy_scores, run_episodes, split_validation
from graphrec.training.splits import holdout_split
from graphrec.training.train_data import Catalogue

log = logging.getLogger(__name__)


def world_from_version(folder: Path, interactions: pd.DataFrame, triples: pd.DataFrame,
                       config: LogReplayConfig | None = None, evaluation_share: float = 0.2) -> ReplayWorld:
    config = config or LogReplayConfig()
    manifest = read_manifest(folder)
    catalogue = Catalogue.load(folder)
    # A small catalogue gets a smaller action space, and no more slates than it fills.
    size = min(config.candidates, catalogue.n_items // 2)
    config = replace(config, candidates=size, steps=max(1, min(config.steps, size // config.slate_size)))
    pairs = pair_rewards(interactions)
    known = (catalogue.user_positions(pairs["user_id"].to_numpy()) >= 0) & \
        (catalogue.item_positions(pairs["item_id"].to_numpy()) >= 0)
    if not known.all():
        log.info("%d interactions of users or items the version does not know are left out", int((~known).sum()))
    pairs = pairs[known].reset_index(drop=True)
    fit, held = holdout_split(pairs, float(manifest.get("holdout", 0.1)))
    if held.empty:
        raise ArtifactError(f"{folder.name}: no holdout interactions to replay; ingest more data first")
    user_vectors = np.load(ArtifactVersion(folder).user_embeddings)
    item_vectors = np.load(ArtifactVersion(folder).item_embeddings)
    episodes = build_episodes(user_vectors @ item_vectors.T, catalogue, fit, held, config)
    if len(episodes) < 2:
        raise ArtifactError(f"{folder.name}: {len(episodes)} users have holdout interactions and {size} unseen "
                            f"items; too few to train a policy")
    draws = pd.util.hash_pandas_object(pd.Series(episodes.users), index=False).to_numpy() / np.float64(2**64)
    evaluation = draws < evaluation_share
    return ReplayWorld(config, catalogue, user_vectors, item_vectors, item_entity_matrix(catalogue, triples),
                       item_quality(catalogue, fit, config.quality_shrinkage),
                       train=episodes.subset(np.flatnonzero(~evaluation)),
                       test=episodes.subset(np.flatnonzero(evaluation)), encoder_seconds=0.0)


def train_policy_for_version(folder: Path, interactions: pd.DataFrame, triples: pd.DataFrame, name: str,
                             seed: int = 0, overrides: dict[str, Any] | None = None,
                             env: str = "logreplay") -> tuple[Path, dict[str, Any]]:
    """Train ``name`` on the version's world; returns the new version that adds the checkpoint (not yet
    published) and the policy's record. In the log replay the baseline rankers are tuned on the same training
    users and recorded (greedy_quality and greedy_folded with their checkpoints) with every evaluation user's
    return, so ``choose_served`` can compare the policy with them user by user. ``env`` gan: a GAN user model is
    first trained on the same interactions and answers the slates."""
    if name not in TRAINERS:
        raise ValueError(f"--policy {name!r} does not rank the catalogue; choose one of {', '.join(TRAINERS)}")
    if env not in ("logreplay", "gan"):
        raise ValueError(f"--env {env!r}: a checkpoint for the service trains in logreplay or gan")
    world = world_from_version(folder, interactions, triples)
    if env == "gan":
        from graphrec.training.rl.gan_env import UserSimulator, fit_user_model

        # The user model never trains on the pairs the policy is measured on: the version's holdout.
        held = holdout_split(pair_rewards(interactions), float(read_manifest(folder).get("holdout", 0.1)))[1]
        world.simulator = UserSimulator.for_world(*fit_user_model(interactions, None, triples, held_out=held), world)
    greedy_stats = run_episodes(greedy_scores(world), world, world.test)
    users = world_fingerprint(world)  # records are compared user by user only when equal
    baselines = baseline_checkpoints(world, seed, greedy_stats.returns, users) if env == "logreplay" else {}
    # The policy starts as the tuned blend of best validation return ranks (training.rl.nets).
    start = start_weights((record["validation_return"], record["config"]) for key, (_, record) in baselines.items()
                          if key in set(BaselineRanker))
    train, config_type = TRAINERS[name]
    config = replace(config_type(), seed=seed, **start, **(overrides or {}))
    trained = train(world, config)
    policy_stats = run_episodes(policy_scores(trained.policy, world), world, world.test)
    record = {
        "policy": name, "env": env, "trained": datetime.now(UTC).isoformat(), "seconds": trained.seconds, "seed": seed,
        "config": asdict(config), "best_iteration": trained.best_iteration,
        "validation_return": dict(trained.curve)[trained.best_iteration],
        "evaluation_users": len(world.test), "training_users": len(world.train),
        "evaluation_return": policy_stats.mean_return, "greedy_evaluation_return": greedy_stats.mean_return,
        "ndcg_at_10": policy_stats.ndcg_at_10, "greedy_ndcg_at_10": greedy_stats.ndcg_at_10,
        "evaluation_returns": policy_stats.returns.tolist(), "evaluation_fingerprint": users, "curve": trained.curve,
        "metrics": trained.log.record()}
    checkpoints = {name: (lambda path: save_policy(trained.policy, path), record), **baselines}
    derived = add_checkpoints(folder, checkpoints, name)
    return derived, record


def baseline_checkpoints(world: ReplayWorld, seed: int, greedy_returns: np.ndarray,
                         users: str) -> dict[str, tuple[Callable[[Path], None] | None, dict[str, Any]]]:
    """The baseline rankers' records (and the tuned blends' checkpoint writers), scored on the evaluation users."""
    entries: dict[str, tuple[Callable[[Path], None] | None, dict[str, Any]]] = {
        "greedy": (None, {"policy": "greedy", "env": "logreplay", "baseline": True,
                          "evaluation_return": float(greedy_returns.mean()),
                          "evaluation_returns": greedy_returns.tolist(), "evaluation_fingerprint": users})}
    learn = split_validation(world.train, VALIDATION_FRACTION, seed)[0]  # the users the RL policy learns from
    for name in BaselineRanker:
        tuned = tune_blend(world, name, seed, learn)
        stats = run_episodes(policy_scores(tuned.policy, world), world, world.test)
        entries[name] = (lambda path, policy=tuned.policy: save_policy(policy, path), {
            "policy": str(name), "env": "logreplay", "baseline": True, "config": asdict(tuned.policy.config),
            "validation_return": dict(tuned.curve)[tuned.best_iteration], "evaluation_return": stats.mean_return,
            "evaluation_returns": stats.returns.tolist(), "evaluation_fingerprint": users})
    return entries


def add_checkpoints(base: Path, checkpoints: dict[str, tuple[Callable[[Path], None] | None, dict[str, Any]]],
                    added: str) -> Path:
    """A new version derived from ``base`` with each <name>.pt written by its writer (None: a record without a
    checkpoint, the greedy ranking's) and each record added to policies.json (one of the same name is replaced).
    Returns the new version's folder."""

    def add(folder: Path) -> None:
        version = ArtifactVersion(folder)
        version.policies.mkdir(exist_ok=True)
        records = json.loads(version.policy_records.read_text()) if version.policy_records.is_file() else {}
        for name, (write, record) in checkpoints.items():
            if write is not None:
                replace_file(version.checkpoint(name), write)
            records[name] = record
        replace_file(version.policy_records,
                     lambda path: path.write_text(json.dumps(records, indent=2, default=str)))

    return derive_version(base, add, {"policy_added": added})
