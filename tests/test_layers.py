"""The package's import structure: no module imports another that (through others) imports it back.

import-linter (`lint-imports`, pyproject.toml) checks the layers; this walks every module's imports with `ast`,
those under TYPE_CHECKING included, since they tie two files together for a reader as much as at run time."""

from __future__ import annotations

import ast
import os
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_files() -> dict[str, Path]:
    """Every module of the package by its dotted name, through graphrec's links to the card's folders."""
    files = {}
    for folder, _, names in os.walk(ROOT / "graphrec", followlinks=True):
        for name in filter(lambda name: name.endswith(".py"), names):
            path = Path(folder, name)
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in modules and target != name}
    return found


def test_no_import_cycle_between_modules() -> None:
    files = module_files()
    graph = {name: imports_of(name, path, set(files)) for name, path in files.items()}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
