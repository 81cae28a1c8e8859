"""The query library: every file loads for both dialects, and identifiers cannot smuggle in Cypher."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from graphrec.graph.labels import STAGED_IDENTIFIERS
from graphrec.graph.queries import DIALECTS, PLACEHOLDER, QueryNotFound, query_text

ALL_NAMES = sorted({entry.name.removesuffix(".cypher") for folder in ("common", *DIALECTS)
                    for entry in (resources.files("graphrec.cypher") / folder).iterdir()
                    if entry.name.endswith(".cypher")})
IDENTIFIERS = {"label": "Genre", "kind": "Genre", "relation": "HAS_GENRE", "constraint": "c", "key": "id",
               "id_type": "INT64", **STAGED_IDENTIFIERS, "staged": STAGED_IDENTIFIERS["staged_user"]}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_query_renders_with_values_only_as_parameters(dialect: str, name: str) -> None:
    try:
        text = query_text(dialect, name, **IDENTIFIERS)
    except QueryNotFound:
        pytest.skip(f"{name} exists only for the other dialect")
    assert not PLACEHOLDER.search(text)
    assert "//" not in text
    # Anything that varies per call is a $parameter; no Python formatting markers survive.
    assert not re.search(r"%s|\{\}|\{[0-9]+\}", text)


@pytest.mark.parametrize("value", ["Genre) DETACH DELETE (n", "a b", "`x`", "1abc", "", "Genre:Tag"])
def test_identifiers_must_be_plain_names(value: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        query_text("ladybug", "node_ids", label=value)


def test_column_types_come_from_a_whitelist() -> None:
    assert "STRING" in query_text("ladybug", "create_user_table", id_type="STRING")
    with pytest.raises(ValueError):
        query_text("ladybug", "create_user_table", id_type="STRING, evil INT64")


def test_dialect_file_overrides_common_and_unknown_names_fail() -> None:
    assert "label(k1)" in query_text("ladybug", "explain_kg")
    assert "type(k1)" in query_text("neo4j", "explain_kg")
    with pytest.raises(QueryNotFound):
        query_text("ladybug", "no_such_query")
    with pytest.raises(ValueError, match="needs identifier"):
        query_text("ladybug", "node_ids")
