"""The production stack files: checked by `docker compose config` where a compose client exists, and for
what the service needs in any case."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FILES = ["docker-compose.yml", "docker-compose.gpu.yml"]
SECRETS = {"NEO4J_PASSWORD": "test-password", "REDIS_PASSWORD": "test-password", "GRAPHREC_API_KEY": "test-key",
           "GRAFANA_ADMIN_PASSWORD": "test-password"}


def compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not compose_available(), reason="no docker compose client on this machine")
def test_docker_compose_config_is_valid() -> None:
    for files in (FILES[:1], FILES):
        args = [arg for name in files for arg in ("-f", str(ROOT / name))]
        done = subprocess.run(["docker", "compose", *args, "config", "-q"], capture_output=True, text=True,
                              cwd=ROOT, env={**SECRETS, "PATH": "/usr/bin:/usr/local/bin"})
        assert done.returncode == 0, done.stderr


def test_the_stack_has_what_serving_needs() -> None:
    stack = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = stack["services"]
    assert {"neo4j", "redis", "api", "refresh", "graphrec"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    api = services["api"]
    assert api["environment"]["REDIS_URL"] == "redis://:${REDIS_PASSWORD:?set REDIS_PASSWORD}@redis:6379/0"
    assert api["command"][0] == "serve" and "8000:8000" in api["ports"] and "healthcheck" in api
    assert "GRAPHREC_API_KEY" in api["environment"]
    assert services["refresh"]["profiles"] == ["jobs"] and services["refresh"]["command"] == ["refresh"]
    shared = "graphrec-var:/var/lib/graphrec"
    assert shared in api["volumes"] and shared in services["refresh"]["volumes"]
    gpu = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())["services"]
    for name in ("api", "refresh"):
        devices = gpu[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"] and "gpu" in gpu[name]["build"]["args"]["EXTRAS"]


def test_the_image_runs_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER graphrec" in dockerfile and 'CMD ["serve"' in dockerfile


def test_no_default_secrets_and_no_published_databases() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in SECRETS:
        assert f"${{{secret}:?" in text and f"${{{secret}:-" not in text and f"${{{secret}}}" not in text
    services = yaml.safe_load(text)["services"]
    assert "ports" not in services["neo4j"] and "ports" not in services["redis"]
    redis = services["redis"]["command"]
    assert redis[redis.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert redis[redis.index("--maxmemory-policy") + 1] == "volatile-lru" and "--maxmemory" in redis
    assert services["redis"]["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
