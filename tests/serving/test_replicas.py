"""Two `graphrec serve` replicas on one Neo4j and one Redis 7: the production stack behind a load balancer."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graphrec.graph.factory import open_store
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings
from tests.api_stack import ADMIN, API_KEY, build_data_dir, copy_data_dir, start_service, wait_for
from tests.conftest import redis7_url, wipe_neo4j

pytestmark = pytest.mark.neo4j
Replica = tuple[subprocess.Popen[bytes], str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_dataset: Dataset) -> Path:
    return build_data_dir(tmp_path_factory.mktemp("built") / "var", small_dataset)


@pytest.fixture
def replicas(built: Path, tmp_path: Path, small_dataset: Dataset, neo4j_server: object,
             redis7: EmbeddedRedis | None) -> Iterator[tuple[list[Replica], dict[str, str]]]:
    """Two replicas sharing the graph, Redis (one namespace) and the artifact folder, as two hosts would."""
    wipe_neo4j()
    with open_store(Settings.from_env(graph_backend="neo4j").graph) as store:
        ingest(store, lambda: small_dataset)
    data_dir = copy_data_dir(built, tmp_path / "var")
    env = {**os.environ, "GRAPHREC_DATA_DIR": str(data_dir), "GRAPHREC_GRAPH_BACKEND": "neo4j",
           "REDIS_URL": redis7_url(redis7), "GRAPHREC_REDIS_NAMESPACE": f"r{uuid.uuid4().hex[:8]}",
           "GRAPHREC_API_KEY": API_KEY, "GRAPHREC_RELOAD_POLL_S": "0.2", "GRAPHREC_WARM_USERS": "0",
           # Four unpaced clients share the admin key's limit through Redis; this test is about failover.
           "GRAPHREC_RATE_LIMIT": "100000/second"}
    started = [start_service(env) for _ in range(2)]
    yield started, env
    for process, _ in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def test_feedback_to_one_replica_changes_the_next_answer_of_the_other(
        replicas: tuple[list[Replica], dict[str, str]]) -> None:
    ((_, first), (_, second)), _ = replicas
    shown = httpx.post(f"{second}/v1/recommend", headers=ADMIN, json={"user_id": 4, "k": 5}).json()
    clicked = shown["items"][0]["item_id"]
    answer = httpx.post(f"{first}/v1/feedback", headers=ADMIN, json={
        "session_id": "s-r", "user_id": 4, "item_id": clicked, "event": "click"})
    assert answer.status_code == 202
    after = httpx.post(f"{second}/v1/recommend", headers=ADMIN, json={"user_id": 4, "k": 5}).json()
    assert after["cache"] == "hit" and clicked not in [entry["item_id"] for entry in after["items"]]  # the set updated

    def in_graph(url: str) -> bool:
        history = httpx.get(f"{url}/v1/users/4/history", headers=ADMIN, params={"limit": 1000}).json()["items"]
        return sum(row["item_id"] == clicked and row["behavior"] == "click" for row in history) == 1

    wait_for(lambda: in_graph(first) and in_graph(second), message="the click did not reach Neo4j once")


def test_a_refresh_swaps_both_and_a_killed_replica_leaves_the_other_serving(
        replicas: tuple[list[Replica], dict[str, str]]) -> None:
    started, env = replicas
    urls = [url for _, url in started]
    before = {httpx.get(f"{url}/readyz").json()["artifact_version"] for url in urls}
    assert len(before) == 1
    failures: dict[str, list[str]] = {url: [] for url in urls}
    served: dict[str, int] = {url: 0 for url in urls}
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url, headers=ADMIN, timeout=10) as client:
            i = 0
            while not stop.is_set():
                try:
                    answer = client.post("/v1/recommend", json={"user_id": 1 + i % 100, "k": 10})
                    if answer.status_code == 200:
                        served[url] += 1
                    else:
                        failures[url].append(f"{answer.status_code} {answer.text}")
                except httpx.HTTPError as error:
                    failures[url].append(repr(error))
                i += 1

    threads = [threading.Thread(target=load, args=(url,)) for url in urls for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        # The refresh job reads Neo4j, publishes to the shared artifact folder, and each replica swaps by itself.
        done = subprocess.run([sys.executable, "-m", "graphrec", "refresh", "--epochs", "1", "--force"],
                              env={**env, "GRAPHREC_SERVICE_URL": urls[0]}, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"published": true' in done.stdout
        wait_for(lambda: all(httpx.get(f"{url}/readyz").json()["artifact_version"] not in before for url in urls),
                 30, "both replicas did not swap to the new version")
        survivor_before = served[urls[1]]
        started[0][0].kill()  # SIGKILL: no graceful shutdown
        wait_for(lambda: served[urls[1]] > survivor_before + 50, 30, "the surviving replica stopped serving")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures[urls[1]] == []
    assert served[urls[0]] > 0 and served[urls[1]] > 0
