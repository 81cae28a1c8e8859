"""The service as it runs in production: `python -m graphrec serve` in a subprocess, real HTTP over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from graphrec.ingest.frames import Dataset
from tests.api_stack import ADMIN, API_KEY, build_data_dir, copy_data_dir, start_service, wait_for


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_dataset: Dataset) -> Path:
    return build_data_dir(tmp_path_factory.mktemp("built") / "var", small_dataset)


@pytest.fixture
def server(built: Path, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = copy_data_dir(built, tmp_path / "var")
    env = {**os.environ, "GRAPHREC_DATA_DIR": str(data_dir), "GRAPHREC_API_KEY": API_KEY,
           "GRAPHREC_WARM_USERS": "0", "GRAPHREC_RELOAD_POLL_S": "0.2", "GRAPHREC_LADYBUG_BUFFER_POOL_MB": "256",
           # the load tests' closed-loop clients pass the default 1000/second on cached answers
           "GRAPHREC_RATE_LIMIT": "100000/second"}
    env.pop("REDIS_URL", None)  # its own embedded Redis
    process, url = start_service(env)
    yield url, env
    process.terminate()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -15 is the normal exit code.
    assert process.wait(timeout=30) in (0, -15)
    assert not (data_dir / "service.json").exists()  # the lifespan ran to its end and let go of the graph


def test_real_http_under_a_bounded_loopback_load(server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    with httpx.Client(base_url=url, headers=ADMIN) as client:
        first = client.post("/v1/recommend", json={"user_id": 4, "k": 5})
        assert first.status_code == 200 and len(first.json()["items"]) == 5

        def call(i: int) -> int:
            return client.post("/v1/recommend", json={"user_id": 1 + i % 100, "k": 10}).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(call, range(400)))
    assert statuses.count(200) == 400


def test_refresh_and_hot_swap_under_load_drop_nothing(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    failures: list[str] = []
    versions: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=url, headers=ADMIN) as client:
            i = 0
            while not stop.is_set():
                answer = client.post("/v1/recommend", json={"user_id": 1 + i % 100, "k": 10})
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text}")
                else:
                    versions.add(answer.json()["artifact_version"])
                i += 1

    before = httpx.get(f"{url}/readyz").json()["artifact_version"]
    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        # The CLI sees that the service owns the embedded graph and hands the refresh to it, --no-warm included.
        done = subprocess.run([sys.executable, "-m", "graphrec", "refresh", "--epochs", "2", "--force", "--no-warm"],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "owns the graph" in done.stdout and '"published": true' in done.stdout
        assert '"warm_start": null' in done.stdout
        wait_for(lambda: httpx.get(f"{url}/readyz").json()["artifact_version"] != before, 30,
                 "the service did not swap to the new version")
        time.sleep(0.5)  # requests on the new version too
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert before in versions and len(versions) == 2


def test_a_second_embedded_service_on_the_same_data_refuses_to_start_and_leaves_the_first_serving(
        server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    second = subprocess.run([sys.executable, "-m", "graphrec", "serve", "--port", "1"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode != 0
    assert "another graphrec service" in second.stdout + second.stderr and "GRAPHREC_DATA_DIR" in second.stderr
    with httpx.Client(base_url=url, headers=ADMIN) as client:  # the first one keeps its graph and its Redis
        assert client.get("/readyz").json()["status"] == "ok"
        assert client.post("/v1/feedback", json={"session_id": "s", "user_id": 4, "item_id": 1,
                                                 "event": "click"}).status_code == 202
