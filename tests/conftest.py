"""Shared fixtures: settings in a temporary folder, real graph stores, small generated datasets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.factory import open_store
from graph.store import GraphStore
from graphrec.settings import Settings
from ingest.frames import Dataset
from ingest.synthetic import generate

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKENDS = ["ladybug", pytest.param("neo4j", marks=pytest.mark.neo4j)]


def make_settings(tmp_path: Path, backend: str = "ladybug", **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "var", graph_backend=backend, ladybug_buffer_pool_mb=256,
                    **overrides)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "neo4j" and not os.environ.get("NEO4J_URI"):
        pytest.skip("NEO4J_URI is not set: no Neo4j server to test against")
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> Settings:
    return make_settings(tmp_path, backend)


@pytest.fixture
def store(settings: Settings) -> Iterator[GraphStore]:
    with open_store(settings) as opened:
        if opened.dialect == "neo4j":
            opened.run("delete_all", write=True)
        yield opened


@pytest.fixture(scope="session")
def small_dataset() -> Dataset:
    return generate(users=120, items=90, interactions=2_500, seed=7)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA
