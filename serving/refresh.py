"""The batch refresh job: retrain the encoder on the current graph, index, compare, publish if not worse.

    graph snapshot -> train (the current version's model and tuned configuration, early stopping on the
    holdout) -> FAISS index -> holdout NDCG@10 of the new and the current version -> publish when
    new >= current - refresh_tolerance (or --force) -> running services follow CURRENT (serving.reloader)

Both versions are scored on the same stable hash holdout of the current graph (training.splits.holdout_split):
neither was trained on it, so the comparison is fair. Who reads the graph: a running service owns the
embedded database, so it writes a snapshot and starts this job as a child process (RefreshJob, behind POST
/v1/admin/refresh); with no service running, `graphrec refresh` reads the database itself; with Neo4j, the
compose job reads the server directly.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from graphrec.serving.config import ServiceConfig
from graphrec.training.artifacts import ArtifactVersion, current_version, publish
from graphrec.training.pipeline import holdout_ndcg, index_version, train_from_frames

log = logging.getLogger(__name__)
REPORT = "refresh.json"
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


def _current_config(folder: Path) -> tuple[str, dict[str, Any]]:
    """The model and tuned configuration of the current version (the refresh starts from them)."""
    config_file = ArtifactVersion(folder).model_config
    if not config_file.is_file():
        return DEFAULT_MODEL, {}
    config = json.loads(config_file.read_text())
    model = config.pop("model", DEFAULT_MODEL)
    config.pop("seed", None)
    # The best epoch count of the current version, with room to train longer on a larger graph.
    if "epochs" in config:
        config["epochs"] = max(2 * int(config["epochs"]), 10)
    return model, config


def run_refresh(settings: ServiceConfig, frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], *,
                model: str | None = None, overrides: dict[str, Any] | None = None,
                force: bool = False) -> RefreshReport:
    started, clock = datetime.now(UTC), time.perf_counter()
    root = settings.artifacts_dir
    interactions, items, triples = frames
    current = current_version(root)
    current_folder = root / "versions" / current if current else None
    current_model, config = _current_config(current_folder) if current_folder else (DEFAULT_MODEL, {})
    chosen = model or current_model
    if chosen != current_model:
        config = {}
    folder = train_from_frames(interactions, items, triples, root, chosen, {**config, **(overrides or {})},
                               holdout=settings.holdout_fraction)
    index_version(folder)
    new_score = holdout_ndcg(folder, interactions, settings.holdout_fraction)
    current_score = holdout_ndcg(current_folder, interactions, settings.holdout_fraction) if current_folder else None
    tolerance = settings.refresh_tolerance
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
    report = RefreshReport(started.isoformat(), time.perf_counter() - clock, folder.name, current, new_score,
                           current_score, publish_it, reason)
    (root / REPORT).write_text(json.dumps(asdict(report), indent=2))
    log.info("refresh: %s", reason)
    return report


def last_report(settings: ServiceConfig) -> dict[str, Any] | None:
    path = settings.artifacts_dir / REPORT
    return json.loads(path.read_text()) if path.is_file() else None


class RefreshJob:
    """The refresh as a child process of the service, reading a snapshot the service wrote (one at a time).

    The child runs at a lower CPU priority, so that training competes as little as possible with requests.
    """

    def __init__(self, settings: ServiceConfig) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.snapshot: Path | None = None
        self.started: str | None = None
        self.log_path = settings.data_dir / "refresh.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, snapshot: Path, *, model: str | None = None, epochs: int | None = None,
              force: bool = False) -> None:
        with self._lock:
            if self.running:
                raise RuntimeError("a refresh is already running")
            # At a lower CPU priority, so the service keeps its cores; `nice` in the argv, since preexec_fn is not
            # safe in a threaded process.
            nice = ["nice", "-n", "10"] if shutil.which("nice") else []
            command = [*nice, sys.executable, "-m", "graphrec", "refresh", "--from-export", str(snapshot)]
            command += ["--model", model] if model else []
            command += ["--epochs", str(epochs)] if epochs else []
            command += ["--force"] if force else []
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log_file:
                self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
            self.snapshot, self.started = snapshot, datetime.now(UTC).isoformat()

    def status(self) -> dict[str, Any]:
        process = self._process
        return {"running": self.running, "started": self.started, "snapshot": str(self.snapshot) if self.snapshot
                else None, "exit_code": None if process is None or self.running else process.returncode,
                "log": str(self.log_path), "last_report": last_report(self.settings)}

    def wait(self, timeout_s: float | None = None) -> int | None:
        return self._process.wait(timeout=timeout_s) if self._process else None

    def stop(self) -> None:
        if self.running:
            assert self._process is not None
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
