"""LadybugDB held by a long-running service: a thread pool that retires threads and starts new ones leaks no
connections, and a stream of small writes is checkpointed."""

from __future__ import annotations

import threading
from pathlib import Path

from graphrec.graph.factory import open_store
from graphrec.graph.ladybug_store import LadybugStore
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from tests.conftest import make_settings


def test_the_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    with open_store(make_settings(tmp_path, "ladybug").graph) as store:
        assert isinstance(store, LadybugStore)
        for _ in range(20):  # each a thread the pool retired after one request
            thread = threading.Thread(target=lambda: store.run("meta_get"))
            thread.start()
            thread.join()
        store.run("meta_get")
        assert store.open_connections <= 2  # this thread's, and at most the last ended thread's


def test_small_writes_are_checkpointed_once_the_log_passes_the_threshold(tmp_path: Path,
                                                                         small_dataset: Dataset) -> None:
    """Committed writes hold memory until a checkpoint folds the write-ahead log into the database: a stream of
    small feedback writes keeps the log under GRAPHREC_LADYBUG_CHECKPOINT_KB instead of LadybugDB's 16 MB."""
    settings = make_settings(tmp_path, "ladybug", ladybug_checkpoint_kb=64, ladybug_checkpoint_every_s=3600)
    wal = Path(f"{settings.graph.ladybug_path}.wal")
    with open_store(settings.graph) as store:
        ingest(store, lambda: small_dataset, show_progress=False)
        item = int(small_dataset.items["item_id"].iloc[0])
        largest = 0
        for entry in range(300):  # about 0.9 KB of log each: four checkpoints' worth
            row = {"user_id": 10_000 + entry, "item_id": item, "behavior": "click", "rating": None, "count": 1,
                   "last_ts": entry}
            store.run("record_feedback", {"rows": [row], "applied_key": "feedback_applied/t",
                                          "applied_id": str(entry)}, write=True)
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
        assert largest <= 80 * 1024
        assert int(store.stats()["users"]) >= 300  # every write is there


def test_writes_checkpoint_once_the_last_checkpoint_is_older_than_the_interval(tmp_path: Path,
                                                                               small_dataset: Dataset) -> None:
    """Below the log threshold, a write checkpoints once GRAPHREC_LADYBUG_CHECKPOINT_EVERY_S has passed: with 0,
    every write leaves the log empty; with an hour, the log keeps growing."""
    for every_s, log_grows in ((0.0, False), (3600.0, True)):
        settings = make_settings(tmp_path / str(every_s), "ladybug", ladybug_checkpoint_kb=16_384,
                                 ladybug_checkpoint_every_s=every_s)
        wal = Path(f"{settings.graph.ladybug_path}.wal")
        with open_store(settings.graph) as store:
            ingest(store, lambda: small_dataset, show_progress=False)
            item = int(small_dataset.items["item_id"].iloc[0])
            sizes = []
            for entry in range(20):
                row = {"user_id": 10_000 + entry, "item_id": item, "behavior": "click", "rating": None, "count": 1,
                       "last_ts": entry}
                store.run("record_feedback", {"rows": [row], "applied_key": "feedback_applied/t",
                                              "applied_id": str(entry)}, write=True)
                sizes.append(wal.stat().st_size if wal.exists() else 0)
            assert (sizes[-1] > sizes[0] > 0) is log_grows, sizes
            if not log_grows:
                assert max(sizes) == 0, sizes
            assert int(store.stats()["users"]) >= 20
