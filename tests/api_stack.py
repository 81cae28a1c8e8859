"""A built data folder for API tests: a small generated graph in LadybugDB and a published artifact set."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from graphrec.graph.factory import open_store
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from graphrec.settings import Settings
from graphrec.training.artifacts import publish
from graphrec.training.pipeline import index_version, train_from_graph
from tests.neo4j_server import free_port

API_KEY = "test-admin-key"
ADMIN = {"X-API-Key": API_KEY}


def build_data_dir(folder: Path, dataset: Dataset) -> Path:
    settings = Settings.from_env(data_dir=folder, ladybug_buffer_pool_mb=256)
    with open_store(settings.graph) as store:
        ingest(store, lambda: dataset)
        version = train_from_graph(store, settings.artifacts_dir, "lightgcn", {"epochs": 8, "dim": 16})
    index_version(version)
    publish(settings.artifacts_dir, version.name)
    return folder


def copy_data_dir(built: Path, target: Path) -> Path:
    shutil.copytree(built, target)
    return target


def api_settings(data_dir: Path, **overrides: object) -> Settings:
    # redis_timeout_s: two test workers on two cores can delay a Redis answer past the default 0.25 s, and these
    # tests check answers, not that timeout.
    values: dict[str, object] = {"data_dir": data_dir, "ladybug_buffer_pool_mb": 256, "api_key": API_KEY,
                                 "reload_poll_s": 0.2, "dependency_retry_s": 0.5, "redis_timeout_s": 2.0,
                                 "warm_users": 0, **overrides}
    return Settings.from_env(**values)  # type: ignore[arg-type]


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0,
             message: str = "condition not met in time") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def start_service(env: dict[str, str], cwd: Path | None = None, timeout_s: float = 60.0,
                  python: Path | str = sys.executable) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m graphrec serve` on a free port, returned once /readyz says ok (its output if it dies first)."""
    port = free_port()
    process = subprocess.Popen([str(python), "-m", "graphrec", "serve", "--port", str(port), "--log-level",
                                "warning"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
        try:
            return httpx.get(f"{url}/readyz").json()["status"] == "ok"
        except httpx.HTTPError:
            return False

    wait_for(ready, timeout_s, "the service did not become ready")
    return process, url
