"""Fuzzing the source readers: random and mutated bytes in any file of each layout end in data or in a clean
IngestError that names the file (and, for a bad row, its line and field), never in another exception; an ingest
that fails leaves the graph as it was.

Budget: EXAMPLES generated inputs per reader (seven readers), and WRITE_EXAMPLES full ingests into LadybugDB per
layout for the no-partial-write property; Hypothesis' example database is off, so every run draws afresh from
its seed and the budget stays fixed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrec.graph.store import GraphError, GraphStore
from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import Dataset
from graphrec.ingest.loader import ingest
from graphrec.ingest.sources import read_source
from tests import fixtures

EXAMPLES = 100
WRITE_EXAMPLES = 25
# name -> (writes the seed files into a folder, source, reader options)
LAYOUTS: dict[str, tuple[Callable[[Path], Path], str, dict[str, Any]]] = {
    "movielens-100k": (fixtures.movielens_100k, "movielens", {}),
    "movielens-1m": (fixtures.movielens_1m, "movielens", {}),
    "movielens-csv": (fixtures.movielens_csv, "movielens", {}),
    "taobao": (fixtures.taobao, "taobao", {}),
    "lastfm": (fixtures.lastfm, "lastfm", {}),
    "msd": (fixtures.msd, "msd", {"genres": "genres.tsv"}),
    "generic": (fixtures.generic, "generic", {}),
}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@st.composite
def mutation(draw: st.DrawFn, original: bytes) -> bytes:
    """Random bytes, or the file with a few bytes flipped, inserted or removed, or cut short."""
    kind = draw(st.sampled_from(["random", "edit", "truncate", "text"]))
    if kind == "random":
        return draw(st.binary(max_size=512))
    if kind == "text":  # plausible text with separators, quotes, newlines and odd characters
        return draw(st.text(alphabet=st.sampled_from(list("0123456789abc,;\t|:\"'\r\n -.é\x00\u2028")),
                            max_size=300)).encode("utf-8", "surrogatepass")
    if kind == "truncate":
        return original[:draw(st.integers(0, len(original)))]
    edited = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(edited)))
        byte = draw(st.sampled_from([0, 9, 10, 13, 34, 44, 58, 124, 0xC3, 0xFF, *b"0123456789-.eE"]))
        operation = draw(st.sampled_from(["set", "insert", "delete"]))
        if operation == "insert" or position == len(edited):
            edited.insert(position, byte)
        elif operation == "set":
            edited[position] = byte
        else:
            del edited[position]
    return bytes(edited)


def source_files(source: Path) -> list[Path]:
    """The files of a source: the folder's, or the source itself when it is one file (Taobao)."""
    return [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())


def mutate_one_file(data: st.DataObject, folder: Path) -> Path:
    target = data.draw(st.sampled_from(source_files(folder)), label="file")
    target.write_bytes(data.draw(mutation(target.read_bytes()), label="content"))
    return target


def read_cleanly(layout: str, folder: Path) -> Dataset | None:
    """The dataset, or None after an IngestError that names a file of the folder; any other error fails."""
    _, source, options = LAYOUTS[layout]
    names = [p.name for p in source_files(folder)]
    try:
        dataset = read_source(source, folder, **options)
    except IngestError as error:
        assert any(name in str(error) for name in names), f"the error names no file: {error}"
        for row in error.bad_rows:
            assert row.line >= 1 and row.field and row.path.name in names
        return None
    for row in dataset.bad_rows:
        assert row.line >= 1 and row.field and row.path.name in names and f":{row.line}:" in str(row)
    return dataset


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_mutated_sources_read_or_fail_cleanly(layout: str) -> None:
    write_seed = LAYOUTS[layout][0]

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory() as temporary:
            folder = write_seed(Path(temporary) / "source")
            mutate_one_file(data, folder)
            read_cleanly(layout, folder)

    check()


@pytest.mark.parametrize("layout", ["generic", "movielens-100k"])
def test_an_ingest_of_mutated_input_that_fails_writes_nothing(layout: str, tmp_path: Path) -> None:
    from graphrec.graph.factory import open_store
    from tests.conftest import make_settings

    write_seed, source, options = LAYOUTS[layout]
    with open_store(make_settings(tmp_path).graph) as store:
        ingest(store, lambda: read_source(source, write_seed(tmp_path / "seed"), **options), show_progress=False)

        @settings(max_examples=WRITE_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def check(data: st.DataObject) -> None:
            with tempfile.TemporaryDirectory() as temporary:
                folder = write_seed(Path(temporary) / "source")
                mutate_one_file(data, folder)
                before = graph_contents(store)
                try:
                    ingest(store, lambda: read_source(source, folder, **options), show_progress=False)
                except (IngestError, GraphError):  # GraphError: ids of another type than the graph's, refused whole
                    assert graph_contents(store) == before

        check()


def graph_contents(store: GraphStore) -> tuple[object, ...]:
    """Everything an ingest writes: the counts of each node kind and relation, and every interaction."""
    interactions = store.interactions()
    rows = sorted(map(repr, interactions.astype(object).where(interactions.notna(), None).itertuples(index=False)))
    return store.stats(), rows
