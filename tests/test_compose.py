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


def compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not compose_available(), reason="no docker compose client on this machine")
def test_docker_compose_config_is_valid() -> None:
    for files in (FILES[:1], FILES):
        args = [arg for name in files for arg in ("-f", str(ROOT / name))]
        done = subprocess.run(["docker", "compose", *args, "config", "-q"], capture_output=True, text=True,
                              cwd=ROOT, env={"NEO4J_PASSWORD": "test", "PATH": "/usr/bin:/usr/local/bin"})
        assert done.returncode == 0, done.stderr


def test_the_stack_has_what_serving_needs() -> None:
    stack = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = stack["services"]
    assert {"neo4j", "redis", "api", "refresh", "graphrec"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    api = services["api"]
    assert api["command"][0] == "serve" and "8000:8000" in api["ports"] and "healthcheck" in api
    assert api["environment"]["REDIS_URL"].startswith("redis://redis") and "GRAPHREC_API_KEY" in api["environment"]
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
