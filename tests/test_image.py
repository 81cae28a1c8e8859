"""The production image's layout, reproduced without Docker: the Dockerfile's last stage is read (its WORKDIR,
ENV and the files it copies from the build context), the wheel is installed as its site-packages, and the
installed service runs from that working directory and starts a refresh child there (POST /v1/admin/refresh)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import httpx
import pytest

from tests.api_stack import start_service, wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("wheel")  # one worker builds and installs the wheel for both files
API_KEY = "image-test-key"


@dataclass
class Stage:
    """What a Dockerfile stage leaves for the process it runs: working directory, environment, copied files."""

    workdir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], PurePosixPath]] = field(default_factory=list)  # (context sources, destination)


def instructions(dockerfile: str) -> list[tuple[str, list[str]]]:
    """Each instruction with its words, continuation lines joined and comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [(words[0].upper(), words[1:]) for line in joined.splitlines() if (words := shlex.split(line))]


def last_stage(dockerfile: str) -> Stage:
    stage = Stage()
    for keyword, words in instructions(dockerfile):
        if keyword == "FROM":
            stage = Stage()
        elif keyword == "WORKDIR":
            stage.workdir = stage.workdir / words[0]
        elif keyword == "ENV":
            stage.env.update(word.split("=", 1) for word in words)  # type: ignore[arg-type]
        elif keyword == "COPY" and not any(word.startswith("--from") for word in words):
            *sources, target = [word for word in words if not word.startswith("--")]
            stage.copies.append((sources, stage.workdir / target))
    return stage


def image_root(stage: Stage, root: Path) -> Path:
    """The image's file system under ``root``: what the stage copies from the build context, and its WORKDIR."""
    for sources, target in stage.copies:
        destination = root / target.relative_to("/")
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, destination, symlinks=True, dirs_exist_ok=True)
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination / path.name)
    workdir = root / stage.workdir.relative_to("/")
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def image_env(stage: Stage, root: Path) -> dict[str, str]:
    """The stage's ENV, absolute paths moved under ``root``."""
    env = {key: str(root / value.lstrip("/")) if value.startswith("/") else value for key, value in stage.env.items()}
    return {"PATH": "/usr/bin:/bin", "HOME": str(root), **env,
            "GRAPHREC_LADYBUG_BUFFER_POOL_MB": "256", "GRAPHREC_WARM_USERS": "0", "GRAPHREC_API_KEY": API_KEY}


def image_python(site: Path, folder: Path) -> Path:
    """A Python of its own whose packages are the installed wheel, then this venv's dependencies, with none of
    this venv's .pth files run: the editable install's finder would otherwise lend the source tree's modules to
    an image that lacks them."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    dependencies = next(path for path in map(Path, sys.path) if path.name == "site-packages" and path.is_dir())
    (own,) = folder.glob("lib/python3*/site-packages")
    (own / "image.pth").write_text(f"{site}\n{dependencies}\n")
    return folder / "bin" / "python"


def graphrec(python: Path, cwd: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run([str(python), "-m", "graphrec", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_image_layout_runs_the_service_and_its_refresh_child(installed: Path, tmp_path: Path) -> None:
    stage = last_stage((ROOT / "Dockerfile").read_text())
    workdir = image_root(stage, tmp_path / "image")
    env = image_env(stage, tmp_path / "image")
    python = image_python(installed, tmp_path / "python")
    assert "GRAPHREC_DATA_DIR" in env
    graphrec(python, workdir, env, "--help")
    graphrec(python, workdir, env, "ingest", "synthetic", "--users", "80", "--items", "60", "--interactions", "1500")
    graphrec(python, workdir, env, "train", "--model", "lightgcn", "--epochs", "2", "--dim", "8")
    graphrec(python, workdir, env, "index")
    graphrec(python, workdir, env, "publish")
    service, url = start_service(env, cwd=workdir, python=python)
    try:
        admin = {"X-API-Key": API_KEY}
        started = httpx.post(f"{url}/v1/admin/refresh", json={"epochs": 2, "force": True}, headers=admin)
        assert started.status_code == 202, started.text

        def ended() -> bool:
            return not httpx.get(f"{url}/v1/admin/refresh", headers=admin).json()["running"]

        wait_for(ended, 240, "the refresh child did not end")
        status = httpx.get(f"{url}/v1/admin/refresh", headers=admin).json()
        log = (Path(env["GRAPHREC_DATA_DIR"]) / "refresh.log").read_text()
        assert status["exit_code"] == 0, log[-3000:]
    finally:
        service.terminate()
        service.wait(timeout=30)
