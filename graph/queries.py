"""Loads the Cypher files of cypher/ by name, the dialect's own file first, and fills in identifiers.

Labels, relationship types and column types cannot be query parameters in Cypher, so a file may name them as
{label}, {kind}, {relation}, {constraint}, {key}, {id_type} or a staging label ({staged},
{staged_user}, {staged_item}). Those are filled only with strings that match a strict
identifier pattern (or, for {id_type}, one of two type names); every value travels as a $parameter.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

DIALECTS = ("ladybug", "neo4j")
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
ID_TYPES = frozenset({"INT64", "STRING"})
PLACEHOLDER = re.compile(r"\{(label|kind|relation|constraint|key|id_type|staged|staged_user|staged_item)\}")


class QueryNotFound(KeyError):
    pass


@cache
def _source(dialect: str, name: str) -> str:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown Cypher dialect {dialect!r}; expected one of {DIALECTS}")
    root = resources.files("graphrec.cypher")
    for folder in (dialect, "common"):
        candidate = root / folder / f"{name}.cypher"
        if candidate.is_file():
            lines = candidate.read_text(encoding="utf-8").splitlines()
            return "\n".join(line for line in lines if not line.lstrip().startswith("//")).strip()
    raise QueryNotFound(f"no query {name!r} in cypher/{dialect}/ or cypher/common/")


def query_text(dialect: str, name: str, **identifiers: str) -> str:
    """The text of query ``name`` for ``dialect`` with its identifier placeholders filled."""
    for key, value in identifiers.items():
        allowed = value in ID_TYPES if key == "id_type" else bool(IDENTIFIER.match(value))
        if not allowed:
            raise ValueError(f"refusing {key}={value!r}: not a plain identifier")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in identifiers:
            raise ValueError(f"query {name!r} needs identifier {{{key}}}")
        return identifiers[key]

    return PLACEHOLDER.sub(fill, _source(dialect, name))
