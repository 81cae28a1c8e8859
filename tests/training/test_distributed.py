"""Training under torchrun with DistributedDataParallel: 2 processes give the single-process model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from graphrec.ingest.synthetic import generate
from graphrec.training.artifacts import ArtifactVersion, read_manifest
from graphrec.training.pipeline import holdout_ndcg, train_from_frames
from graphrec.training.snapshot import FRAMES

CONFIG = {"epochs": 20, "dim": 16, "batch_size": 1_024, "eval_every": 5}


def test_two_processes_match_one_at_equal_global_batch(tmp_path: Path) -> None:
    data = generate(users=200, items=150, interactions=6_000, seed=7)
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    for name, frame in zip(FRAMES, (data.interactions, data.items, data.triples), strict=True):
        frame.to_parquet(snapshot / f"{name}.parquet", index=False)
    single = train_from_frames(data.interactions, data.items, data.triples, tmp_path / "one", "lightgcn", CONFIG)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "graphrec.training.torchrun", "--snapshot", str(snapshot), "--artifacts-dir", str(tmp_path / "two"),
         "--model", "lightgcn", "--config", json.dumps(CONFIG)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3_000:]
    double = Path(done.stdout.strip().splitlines()[-1])
    assert json.loads(ArtifactVersion(double).metrics.read_text())["processes"] == 2
    assert json.loads(ArtifactVersion(single).metrics.read_text())["processes"] == 1
    one, two = (holdout_ndcg(folder, data.interactions) for folder in (single, double))
    assert one is not None and two is not None and one > 0.05
    print(f"holdout NDCG@10: one process {one:.5f}, two processes {two:.5f}")
    assert abs(one - two) <= 0.005, (one, two)
    assert abs(read_manifest(single)["valid_ndcg@10"] - read_manifest(double)["valid_ndcg@10"]) <= 0.005
