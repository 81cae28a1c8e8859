"""LadybugDB's per-thread connections: a thread pool that retires threads and starts new ones leaks none."""

from __future__ import annotations

import threading
from pathlib import Path

from graphrec.graph.factory import open_store
from graphrec.graph.ladybug_store import LadybugStore
from tests.conftest import make_settings


def test_the_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    with open_store(make_settings(tmp_path, "ladybug").graph_config()) as store:
        assert isinstance(store, LadybugStore)
        for _ in range(20):  # each a thread the pool retired after one request
            thread = threading.Thread(target=lambda: store.run("meta_get"))
            thread.start()
            thread.join()
        store.run("meta_get")
        assert store.open_connections <= 2  # this thread's, and at most the last ended thread's
