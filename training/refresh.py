"""The batch refresh job: retrain the encoder on the current graph, index, compare, publish if not worse.

    graph snapshot -> train (the current version's model and tuned configuration, early stopping on the
    holdout) -> FAISS index -> holdout NDCG@10 of the new and the current version -> publish when
    new >= current - tolerance (or force) -> running services follow CURRENT (serving.ops.reloader)

Training starts warm where the model allows (LightGCN, BPR-MF): users and items the current version knew
start from its layer-0 weights, new ones from the usual initialisation, and early stopping runs on the short
schedule of training.bpr.WarmStart, so it ends sooner than a cold retrain. Each stage's seconds are in
refresh.json.

Both versions are scored on the same stable hash holdout of the current graph (training.splits.holdout_split):
neither was trained on it, so the comparison is fair. Who reads the graph: a running service owns the
embedded database, so it writes a snapshot and starts this job as a child process (serving.ops.refresh_job, behind
POST /v1/admin/refresh); with no service running, `graphrec refresh` reads the database itself; with Neo4j,
the compose job reads the server directly.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock, Timeout
from tqdm import tqdm

from graphrec.training.artifacts import ArtifactRoot, ArtifactVersion, current_version, prune, publish
from graphrec.training.settings import TrainingSettings

log = logging.getLogger(__name__)
DEFAULT_MODEL = "lightgcn"


@dataclass
class RefreshReport:
    started: str
    seconds: float
    new_version: str
    current_version: str | None
    new_ndcg: float | None
    current_ndcg: float | None
    published: bool
    reason: str
    stages: dict[str, float]  # seconds per stage: export (when measured by the caller), train, index, compare, publish
    warm_start: dict[str, Any] | None


def _current_config(folder: Path) -> tuple[str, dict[str, Any]]:
    """The model and tuned configuration of the current version (the refresh starts from them)."""
    config_file = ArtifactVersion(folder).model_config
    if not config_file.is_file():
        return DEFAULT_MODEL, {}
    config = json.loads(config_file.read_text())
    model = config.pop("model", DEFAULT_MODEL)
    config.pop("seed", None)
    return model, config


class RefreshRunning(RuntimeError):
    """Another refresh holds the artifact folder's refresh lock."""


def run_refresh(root: Path, training: TrainingSettings, frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], *,
                model: str | None = None, overrides: dict[str, Any] | None = None,
                force: bool = False, warm: bool = True, export_seconds: float | None = None) -> RefreshReport:
    """One refresh at a time per artifact folder, across processes and the replicas that share the folder: a
    second one fails at once with RefreshRunning instead of publishing over the first one's comparison."""
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(ArtifactRoot(root).refresh_lock)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RefreshRunning(f"another refresh is running on {root} (it holds {lock.lock_file}); "
                             "wait for it to finish") from None
    try:
        stages = {} if export_seconds is None else {"export": export_seconds}
        return _refresh(root, training, frames, model=model, overrides=overrides, force=force, warm=warm, stages=stages)
    finally:
        lock.release()


def _refresh(root: Path, training: TrainingSettings, frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], *,
             model: str | None, overrides: dict[str, Any] | None, force: bool, warm: bool,
             stages: dict[str, float]) -> RefreshReport:
    started, clock = datetime.now(UTC), time.perf_counter()
    progress = tqdm(total=4, desc="refresh", unit="stage", disable=None)
    stage_started = clock

    def stage(name: str) -> None:
        """Record the seconds since the previous stage ended under ``name``."""
        nonlocal stage_started
        now = time.perf_counter()
        stages[name], stage_started = now - stage_started, now
        progress.update()
        progress.set_postfix_str(f"{name} done")
    # torch arrives with the pipeline: the service imports this module for last_report and never trains in-process
    from graphrec.training.pipeline import holdout_ndcg, index_version, train_from_frames

    interactions, items, triples = frames
    current = current_version(root)
    current_folder = ArtifactRoot(root).version(current) if current else None
    current_model, tuned = _current_config(current_folder) if current_folder else (DEFAULT_MODEL, {})
    chosen = model or current_model
    if chosen != current_model:
        tuned = {}
    warm_from = current_folder if warm and current_folder is not None and chosen == current_model else None
    if warm_from is not None:  # the current version's best epoch count, with room to train longer
        settings = {**tuned, "epochs": max(2 * int(tuned.get("epochs", 5)), 10)}
    else:  # from scratch, early stopping alone decides, whatever epoch count a warm start stopped at
        settings = {key: value for key, value in tuned.items() if key != "epochs"}
    settings |= overrides or {}
    folder = train_from_frames(interactions, items, triples, root, chosen, settings,
                               holdout=training.holdout_fraction, warm_from=warm_from)
    stage("train")
    index_version(folder)
    stage("index")
    new_score = holdout_ndcg(folder, interactions, training.holdout_fraction)
    current_score = holdout_ndcg(current_folder, interactions, training.holdout_fraction) if current_folder else None
    stage("compare")
    tolerance = training.refresh_tolerance
    if force:
        publish_it, reason = True, "forced"
    elif current_score is None or new_score is None:
        publish_it, reason = True, "nothing to compare with"
    elif new_score >= current_score - tolerance:
        publish_it, reason = True, f"holdout NDCG@10 {new_score:.4f} >= {current_score:.4f} - {tolerance}"
    else:
        publish_it = False
        reason = f"holdout NDCG@10 {new_score:.4f} < {current_score:.4f} - {tolerance}: kept {current}"
    if publish_it:
        publish(root, folder.name)
        prune(root, training.artifact_versions_kept)
    stage("publish")
    progress.close()
    report = RefreshReport(started.isoformat(), time.perf_counter() - clock + stages.get("export", 0.0),
                           folder.name, current, new_score, current_score, publish_it, reason,
                           {k: round(v, 3) for k, v in stages.items()},
                           json.loads(ArtifactVersion(folder).metrics.read_text()).get("warm_start"))
    ArtifactRoot(root).refresh_report.write_text(json.dumps(asdict(report), indent=2))
    log.info("refresh: %s", reason)
    return report


def last_report(artifacts_dir: Path) -> dict[str, Any] | None:
    """What the last refresh under ``artifacts_dir`` did, as it wrote it."""
    path = ArtifactRoot(artifacts_dir).refresh_report
    return json.loads(path.read_text()) if path.is_file() else None
