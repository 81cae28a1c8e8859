"""The package as a non-editable install sees it: built as a wheel, installed outside the source tree, run there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.api_stack import start_service

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("wheel")  # one worker builds and installs the wheel for both files


def test_the_wheel_holds_one_package_with_every_folder(wheel: Path) -> None:
    modules = [name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")]
    assert {name.split("/")[0] for name in modules} == {"graphrec"}  # one top-level package, nothing to shadow
    assert {name.rsplit("/", 1)[0] for name in modules if name.endswith("/__init__.py")} == source_packages()


def source_packages() -> set[str]:
    """Every package folder of the tree, through graphrec's links to the card's folders (graphrec/training/rl)."""
    walk = os.walk(ROOT / "graphrec", followlinks=True)
    return {Path(folder).relative_to(ROOT).as_posix() for folder, _, names in walk if "__init__.py" in names}


def installed_env(site: Path, cwd: Path) -> dict[str, str]:
    """Python finds the installed copy first; the embedded stack lives under ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(site), "GRAPHREC_DATA_DIR": str(cwd / "var"),
           "GRAPHREC_LADYBUG_BUFFER_POOL_MB": "256", "GRAPHREC_GRAPH_BACKEND": "ladybug"}
    env.pop("REDIS_URL", None)
    return env


def run_graphrec(site: Path, cwd: Path, *args: str, timeout_s: float = 300) -> str:
    done = subprocess.run([sys.executable, "-m", "graphrec", *args], cwd=cwd, env=installed_env(site, cwd),
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_installed_package_trains_a_policy_and_serves(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", "import graphrec.training.rl.ppo, graphrec.cypher; "
                            "print(graphrec.__file__)"],
                           cwd=tmp_path, env=installed_env(installed, tmp_path), capture_output=True,
                           text=True, check=True)
    assert probe.stdout.strip().startswith(str(installed))  # the installed copy, not the source tree
    run_graphrec(installed, tmp_path, "ingest", "synthetic", "--users", "120", "--items", "90",
                 "--interactions", "2500")
    run_graphrec(installed, tmp_path, "train", "--model", "lightgcn", "--epochs", "3", "--dim", "16")
    run_graphrec(installed, tmp_path, "index")
    run_graphrec(installed, tmp_path, "publish")
    trained = run_graphrec(installed, tmp_path, "train-policy", "--policy", "ppo", "--iterations", "1")
    # The paired test on the held-out users decides what "auto" serves: the ppo or the best baseline ranker.
    chosen = re.search(r"GRAPHREC_POLICY=auto serves (\w+)", trained)
    assert "ppo" in trained and chosen is not None

    env = {**installed_env(installed, tmp_path), "GRAPHREC_WARM_USERS": "0", "GRAPHREC_POLICY": "auto"}
    service, url = start_service(env, cwd=tmp_path)
    try:
        body = httpx.post(f"{url}/v1/recommend", json={"user_id": 3, "k": 5}).json()
        assert body["policy"] == chosen.group(1) and len(body["items"]) == 5
        # The console's files ship in the wheel.
        assert "graphrec console" in httpx.get(f"{url}/").text
        assert httpx.get(f"{url}/console/console.js").status_code == 200
    finally:
        service.terminate()
        service.wait(timeout=30)
