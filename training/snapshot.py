"""A graph snapshot on disk: the (interactions, items, triples) frames the trainers read, as Parquet.

The embedded database admits one read-write process, and a running service holds it; the service writes a
snapshot (a fraction of a second for a million edges) and the refresh job trains from that in its own
process, so training never competes for the database or blocks the service.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from graphrec.graph.store import GraphStore
from graphrec.training.train_data import graph_frames

FRAMES = ("interactions", "items", "triples")


def write_snapshot(store: GraphStore, root: Path, keep: int = 3) -> Path:
    """Export the graph into a new folder under ``root`` (written aside, then renamed) and delete all but the
    newest ``keep`` snapshots; returns the folder."""
    frames = dict(zip(FRAMES, graph_frames(store), strict=True))
    root.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    staging = root / f".staging-{name}"
    staging.mkdir()
    try:
        for key, frame in frames.items():
            frame.to_parquet(staging / f"{key}.parquet", index=False)
        os.replace(staging, root / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return root / name


def read_snapshot(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    missing = [key for key in FRAMES if not (folder / f"{key}.parquet").is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: not a graph snapshot (missing {', '.join(missing)}.parquet)")
    interactions, items, triples = (pd.read_parquet(folder / f"{key}.parquet") for key in FRAMES)
    return interactions, items, triples
