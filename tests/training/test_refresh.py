"""The refresh job: one at a time per artifact folder, across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graphrec.ingest.synthetic import generate
from graphrec.training.artifacts import ArtifactRoot, current_version
from graphrec.training.refresh import RefreshRunning, run_refresh
from graphrec.training.settings import TrainingSettings

TRAINING = TrainingSettings()


def test_a_second_refresh_fails_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    data = generate(users=60, items=50, interactions=1_200, seed=3)
    frames = (data.interactions, data.items, data.triples)
    root = tmp_path / "artifacts"
    root.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); time.sleep(60)", str(ArtifactRoot(root).refresh_lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RefreshRunning, match="another refresh is running"):
            run_refresh(root, TRAINING, frames, overrides={"epochs": 1, "dim": 8})
        assert current_version(root) is None  # nothing was published
    finally:
        holder.kill()
        holder.wait(timeout=10)
    report = run_refresh(root, TRAINING, frames, overrides={"epochs": 1, "dim": 8})  # the lock died with its process
    assert report.published and current_version(root) == report.new_version


def test_a_refresh_starts_warm_from_the_current_version_and_times_its_stages(tmp_path: Path) -> None:
    data = generate(users=80, items=60, interactions=2_000, seed=4)
    root = tmp_path / "artifacts"
    frames = (data.interactions, data.items, data.triples)
    first = run_refresh(root, TRAINING, frames, overrides={"epochs": 5, "dim": 8})
    assert first.warm_start is None and set(first.stages) == {"train", "index", "compare", "publish"}
    grown = generate(users=100, items=60, interactions=2_600, seed=4)  # new users beside the known ones
    second = run_refresh(root, TRAINING, (grown.interactions, grown.items, grown.triples), export_seconds=0.5)
    assert second.warm_start is not None and second.warm_start["used"]
    assert second.warm_start["from"] == first.new_version
    assert 0 < second.warm_start["users_kept"] < grown.interactions["user_id"].nunique()
    assert second.stages["export"] == 0.5 and second.seconds >= sum(second.stages.values()) - 0.01
    cold = run_refresh(root, TRAINING, (grown.interactions, grown.items, grown.triples), warm=False, force=True)
    assert cold.warm_start is None


def test_warm_start_keeps_known_rows_and_initialises_new_ones() -> None:
    import numpy as np
    import torch

    from graphrec.training.bpr import BPRConfig, WarmStart
    from graphrec.training.models.lightgcn import LightGCN
    from graphrec.training.train_data import build_catalogue, train_data

    data = generate(users=30, items=20, interactions=300, seed=2)
    train = train_data(build_catalogue(data.interactions, data.items, data.triples), data.interactions)
    encoder = LightGCN().build(train, BPRConfig(dim=4))
    previous = torch.arange(5 * 4, dtype=torch.float32).reshape(5, 4)  # 3 previous users, then 2 items
    user_rows = np.full(train.n_users, -1)
    user_rows[[0, 7]] = [2, 0]
    item_rows = np.full(train.n_items, -1)
    item_rows[3] = 1
    before = encoder.embedding.weight.detach().clone()
    assert encoder.warm_start(WarmStart({"embedding.weight": previous}, user_rows, item_rows, previous_users=3))
    after = encoder.embedding.weight.detach()
    assert torch.equal(after[0], previous[2]) and torch.equal(after[7], previous[0])
    assert torch.equal(after[train.n_users + 3], previous[3 + 1])
    assert torch.equal(after[1], before[1]) and torch.equal(after[train.n_users], before[train.n_users])
    assert not encoder.warm_start(WarmStart({"other": previous}, user_rows, item_rows, 3))
