"""Shared fixtures: settings in a temporary folder, real graph stores on both backends, small generated datasets.

The Neo4j backend runs against a real server: the one NEO4J_URI names, or else a Neo4j Community server that
the session starts once from tests/neo4j-server (tests/neo4j_server.py) and stops at the end. In CI (CI=true)
a Neo4j that cannot start fails the run; elsewhere, without Java or Maven, the Neo4j tests skip with the reason.
"""

from __future__ import annotations

import os

# A pytest-xdist worker has one core of its own: torch's and the BLAS libraries' thread pools (one thread per core
# by default) would make two workers spin against each other. Set before anything imports torch; the services and
# jobs the tests start inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphrec.graph.factory import open_store
from graphrec.graph.store import GraphStore
from graphrec.ingest.frames import Dataset
from graphrec.ingest.synthetic import generate
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings
from tests.neo4j_server import Neo4jServer, Neo4jUnavailable, free_port, missing_tools

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BACKENDS = ["ladybug", pytest.param("neo4j", marks=pytest.mark.neo4j)]


def make_settings(tmp_path: Path, backend: str = "ladybug", **overrides: object) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "var", graph_backend=backend, ladybug_buffer_pool_mb=256,
                    **overrides)  # type: ignore[arg-type]


# The test server lives minutes and runs thousands of small transactions: the C1 compiler alone and the serial
# collector halve its CPU against the JVM's defaults (C2, G1) at the same wall time, on a machine whose two
# cores the test workers need.
TEST_JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
SERVERS_STARTED: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The log names the servers the suite ran against."""
    for line in SERVERS_STARTED:
        terminalreporter.write_line(line)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (--dist loadgroup), the tests of a file that defines a module-scoped fixture run on one
    worker, so the fixture (a service, two replicas, a trained policy) is built once; other tests go to whichever
    worker is free."""
    for item in items:
        module = item.nodeid.split("::")[0]
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else []
        if any(definition.scope == "module" and definition.baseid == module
               for defs in definitions for definition in defs):
            item.add_marker(pytest.mark.xdist_group(module))


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer | None]:
    """A real Neo4j server, its connection exported as NEO4J_* so child processes reach it too; None when
    NEO4J_URI names a server of the caller's (which the fault tests then leave alone)."""
    if os.environ.get("NEO4J_URI"):
        yield None
        return
    server = Neo4jServer(home=tmp_path_factory.mktemp("neo4j"), jvm_options=TEST_JVM_OPTIONS)
    try:
        server.start()
    except Neo4jUnavailable as error:
        if os.environ.get("CI") == "true" or missing_tools() == []:
            pytest.fail(f"the Neo4j test server did not start: {error}", pytrace=False)
        pytest.skip(str(error))
    SERVERS_STARTED.append(f"Neo4j {server.version()} on {server.uri}, started in {server.started_in_s:.1f} s "
                           f"(heap {server.heap}, page cache {server.page_cache})")
    saved = {key: os.environ.get(key) for key in server.environment()}
    os.environ.update(server.environment())
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each backend in turn; on Neo4j the test starts from an empty database (the server is shared)."""
    if request.param == "neo4j":
        request.getfixturevalue("neo4j_server")
        wipe_neo4j()
    yield str(request.param)


def wipe_neo4j() -> None:
    with open_store(Settings.from_env(graph_backend="neo4j").graph) as store:
        store.run("delete_all", write=True)


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> Settings:
    return make_settings(tmp_path, backend)


@pytest.fixture
def store(settings: Settings) -> Iterator[GraphStore]:
    with open_store(settings.graph) as opened:
        yield opened


@pytest.fixture(scope="session")
def redis7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis | None]:
    """A Redis 7 server from Debian's redis-server on a loopback port with a password; None when REDIS_URL
    names the caller's own server."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (.ci/system-deps installs it)", pytrace=False)
        pytest.skip("redis-server is not installed: `bash .ci/system-deps` installs it")
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis7"), binary=binary, port=free_port(),
                           password=secrets.token_urlsafe(16)).start()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split()
    release = next((word[2:] for word in version if word.startswith("v=")), "?")
    SERVERS_STARTED.append(f"Redis {release} on 127.0.0.1:{server.port}")
    try:
        yield server
    finally:
        server.stop()


def redis7_url(server: EmbeddedRedis | None) -> str:
    return server.url if server is not None else os.environ["REDIS_URL"]


@pytest.fixture
def neo4j_process(neo4j_server: Neo4jServer | None) -> Iterator[Neo4jServer]:
    """The session's own Neo4j server, for tests that stop it; it runs again after the test whatever happened."""
    if neo4j_server is None:
        pytest.skip("NEO4J_URI names an outside server: the tests do not stop it")
    try:
        yield neo4j_server
    finally:
        neo4j_server.start()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built as a wheel from the source tree, as `pip install .` and the image's build stage do."""
    folder = tmp_path_factory.mktemp("wheel")
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # a stale build/ would add files the tree no longer has
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(folder), str(ROOT)],
                   check=True)
    (built,) = folder.glob("graphrec-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel's files installed into a folder of their own, a site-packages (dependencies: this venv's)."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
                    str(wheel)], check=True)
    return site


@pytest.fixture(scope="session")
def small_dataset() -> Dataset:
    return generate(users=120, items=90, interactions=2_500, seed=7)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA
