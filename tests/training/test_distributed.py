"""Training under torchrun with DistributedDataParallel: `graphrec train --nproc 2` gives the single-process
model at equal global batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from graphrec.cli import app
from graphrec.settings import get_settings
from graphrec.training.artifacts import ArtifactVersion, read_manifest
from graphrec.training.pipeline import holdout_ndcg, train_from_frames
from graphrec.training.snapshot import read_snapshot


def test_two_processes_match_one_at_equal_global_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHREC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRAPHREC_GRAPH_BACKEND", "ladybug")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ingested = runner.invoke(app, ["ingest", "synthetic", "--users", "200", "--items", "150", "--interactions",
                                       "6000", "--seed", "7"])
        assert ingested.exit_code == 0, ingested.output
        trained = runner.invoke(app, ["train", "--nproc", "2", "--epochs", "20", "--dim", "16"])
        assert trained.exit_code == 0 and "(2 processes)" in trained.output, trained.output
        double = tmp_path / "var" / "artifacts" / "versions" / trained.output.strip().split()[3]
        snapshot = next((tmp_path / "var" / "exports").iterdir())  # what the two processes read
    finally:
        get_settings.cache_clear()
    frames = read_snapshot(snapshot)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as torchrun gives each process: the same float arithmetic, step by step
    try:
        single = train_from_frames(*frames, tmp_path / "one", "lightgcn", {"epochs": 20, "dim": 16})
    finally:
        torch.set_num_threads(threads)
    assert json.loads(ArtifactVersion(double).metrics.read_text())["processes"] == 2
    assert json.loads(ArtifactVersion(single).metrics.read_text())["processes"] == 1
    one, two = (holdout_ndcg(folder, frames[0]) for folder in (single, double))
    assert one is not None and two is not None and one > 0.05
    print(f"holdout NDCG@10: one process {one:.5f}, two processes {two:.5f}")
    assert abs(one - two) <= 0.005, (one, two)
    assert abs(read_manifest(single)["valid_ndcg@10"] - read_manifest(double)["valid_ndcg@10"]) <= 0.005
