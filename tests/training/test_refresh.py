"""The refresh job: one at a time per artifact folder, across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graphrec.ingest.synthetic import generate
from graphrec.training.artifacts import current_version
from graphrec.training.refresh import LOCK, RefreshConfig, RefreshRunning, run_refresh


def test_a_second_refresh_fails_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    data = generate(users=60, items=50, interactions=1_200, seed=3)
    frames = (data.interactions, data.items, data.triples)
    config = RefreshConfig(tmp_path / "artifacts")
    config.artifacts_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); time.sleep(60)", str(config.artifacts_dir / LOCK)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RefreshRunning, match="another refresh is running"):
            run_refresh(config, frames, overrides={"epochs": 1, "dim": 8})
        assert current_version(config.artifacts_dir) is None  # nothing was published
    finally:
        holder.kill()
        holder.wait(timeout=10)
    report = run_refresh(config, frames, overrides={"epochs": 1, "dim": 8})  # the lock died with its process
    assert report.published and current_version(config.artifacts_dir) == report.new_version
