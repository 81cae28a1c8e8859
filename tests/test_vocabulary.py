"""One definition each, read off the package's syntax trees: the id coercion, the behaviour list, the positive rule
and the artifact folder's layout. A second copy drifts from the first (the id coercion once did)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from graphrec.graph.behaviours import BEHAVIOURS
from tests.test_layers import module_files

PACKAGE = module_files()


def trees() -> Iterator[tuple[str, ast.Module]]:
    for name, path in PACKAGE.items():
        yield name, ast.parse(Path(path).read_text())


def defined_functions(name: str) -> list[str]:
    return [module for module, tree in trees() for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == name]


def string_constants(value: str) -> list[str]:
    return [module for module, tree in trees() for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value == value]


def test_one_id_coercion() -> None:
    assert defined_functions("coerce_id").count("graphrec.graph.ids") == 1
    # The store and the service coerce through it; no other module spells an id's written form.
    assert string_constants(r"0|[1-9][0-9]*") == ["graphrec.graph.ids"]
    assert string_constants(r"0|-?[1-9][0-9]{0,17}") == ["graphrec.graph.ids"]
    assert defined_functions("plain_id") == ["graphrec.graph.ids"]
    assert defined_functions("positions") == ["graphrec.graph.ids"]


def test_one_behaviour_list() -> None:
    """No collection literal outside graph.behaviours names three or more behaviours."""
    names = set(BEHAVIOURS)
    lists = []
    for module, tree in trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Set | ast.List | ast.Tuple | ast.Dict):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                found = {item.value for item in items if isinstance(item, ast.Constant) and item.value in names}
                if len(found) >= 3:
                    lists.append(module)
    assert lists == [], lists
    calls = [module for module, tree in trees() for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Behaviour"]
    assert set(calls) == {"graphrec.graph.behaviours"}


def test_one_positive_rule() -> None:
    assert defined_functions("is_positive") == ["graphrec.graph.behaviours"]
    uses = [module for module, tree in trees() for node in ast.walk(tree)
            if isinstance(node, ast.Name | ast.Attribute)
            and (node.id if isinstance(node, ast.Name) else node.attr) in ("POSITIVE_REWARD", "POSITIVE_MIN_RATING")]
    assert set(uses) <= {"graphrec.graph.behaviours", "graphrec.training.rl.logreplay"}, uses


def test_one_artifact_root_layout() -> None:
    for part in ("versions", "CURRENT", "in-use", ".refresh.lock", "refresh.json"):
        assert string_constants(part) == ["graphrec.training.artifacts"], part


def test_modules_stay_small_and_their_names_say_what_they_hold() -> None:
    """No module over 400 lines; no two modules share a base name, but the settings section each layer owns
    (graph/settings.py is the graph's) and the command line's areas (cli/model.py holds the model commands)."""
    long = {name: lines for name, path in PACKAGE.items() if (lines := len(Path(path).read_text().splitlines())) > 400}
    assert long == {}
    by_base: dict[str, list[str]] = {}
    for name in PACKAGE:
        if not name.startswith("graphrec.cli."):
            by_base.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    shared = {base: names for base, names in by_base.items() if len(names) > 1 and base != "settings"}
    assert shared == {}, shared
