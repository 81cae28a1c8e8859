"""The API tests' stacks: a data folder built once per module and copied per test, and each real stack, embedded
(LadybugDB and the embedded Redis) and production (a Neo4j server and a Redis 7 server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graphrec.graph.factory import open_store
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from graphrec.serving.app import create_app
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings
from tests.api_stack import ADMIN, api_settings, build_data_dir, copy_data_dir
from tests.conftest import redis7_url, wipe_neo4j


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, small_dataset: Dataset) -> Path:
    return build_data_dir(tmp_path_factory.mktemp("built") / "var", small_dataset)


@pytest.fixture
def data_dir(built: Path, tmp_path: Path) -> Path:
    return copy_data_dir(built, tmp_path / "var")


@dataclass
class Stack:
    """The settings that select one stack, and the Redis server the test may stop (None: the service's own)."""

    name: str
    overrides: dict[str, object] = field(default_factory=dict)
    redis: EmbeddedRedis | None = None

    def redis_server(self, client: TestClient) -> EmbeddedRedis:
        return self.redis or client.app.state.resources.embedded_redis  # type: ignore[attr-defined]


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.neo4j)])
def stack(request: pytest.FixtureRequest, small_dataset: Dataset) -> Stack:
    if request.param == "embedded":
        return Stack("embedded")
    request.getfixturevalue("neo4j_server")
    redis = request.getfixturevalue("redis7")
    wipe_neo4j()
    with open_store(Settings.from_env(graph_backend="neo4j").graph) as store:
        ingest(store, lambda: small_dataset)
    # A generous graph budget: a Neo4j server's first queries (cold plans, two test workers on two cores) may take
    # over the default second, and a test here checks answers, not the budget (test_serving_core does).
    return Stack("production", {"graph_backend": "neo4j", "redis_url": redis7_url(redis),
                                "graph_request_deadline_s": 5.0}, redis)


def client_for(data_dir: Path, stack: Stack, headers: dict[str, str] | None = ADMIN,
               **overrides: object) -> TestClient:
    """A client of the stack's service, sending the admin key unless ``headers`` says otherwise."""
    # A namespace per test keeps tests apart on a shared Redis.
    return TestClient(create_app(api_settings(data_dir, redis_namespace=f"t{uuid.uuid4().hex[:8]}",
                                              **{**stack.overrides, **overrides})), headers=headers)


@pytest.fixture
def client(data_dir: Path, stack: Stack) -> Iterator[TestClient]:
    with client_for(data_dir, stack) as opened:
        yield opened


def seen_items(dataset: Dataset, user: int) -> set[int]:
    frame = dataset.interactions
    return set(frame.loc[frame["user_id"] == user, "item_id"])
