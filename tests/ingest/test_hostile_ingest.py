"""Files a hostile or careless uploader sends: none crashes an ingest or is read short, each refusal names file,
line and field, and the graph after a refusal is the graph before it (its tables included)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphrec.graph.store import GraphStore
from graphrec.ingest import generic
from graphrec.ingest.errors import IngestError
from graphrec.ingest.loader import ingest
from tests import fixtures
from tests.ingest.test_ingest_graph import FailingProgress, disk_full

HEADER = "user_id,item_id,rating,behavior,timestamp\n"
WHERE = re.compile(r"(interactions|items|triples)\.csv:(\d+): field '([^']+)'")


def snapshot(store: GraphStore) -> dict[str, Any]:
    """What a refused ingest must leave as it was: the counts, the stored schema and (LadybugDB) its tables."""
    state: dict[str, Any] = {"stats": store.stats(), "kg_pairs": sorted(store.kg_pairs())}
    if store.dialect == "ladybug":
        state["tables"] = sorted(store._execute("CALL show_tables() RETURN name")["name"])  # type: ignore[attr-defined]
    return state


def refused(store: GraphStore, folder: Path, file: str, line: int, field: str) -> None:
    before = snapshot(store)
    with pytest.raises(IngestError) as raised:
        ingest(store, lambda: generic.read(folder))
    found = WHERE.search(str(raised.value))
    assert found, str(raised.value)
    assert found.groups() == (file, str(line), field), str(raised.value)
    assert snapshot(store) == before


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def base(store: GraphStore, tmp_path: Path) -> GraphStore:
    """A graph holding the generic fixture (text ids, kinds Genre, Mood and Artist)."""
    ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "base")))
    return store


def source(tmp_path: Path, interactions: bytes | None = None, triples: str | None = None,
           items: bytes | None = None) -> Path:
    folder = tmp_path / "hostile"
    write_bytes(folder / "interactions.csv", interactions if interactions is not None
                else (HEADER + "u1,i1,5,rating,10\n").encode())
    if triples is not None:
        fixtures.write(folder / "triples.csv", "head,relation,tail,tail_kind\n" + triples)
    if items is not None:
        write_bytes(folder / "items.csv", items)
    return folder


REFUSED: list[tuple[str, Callable[[Path], Path], str, int, str]] = [
    ("duplicate header", lambda t: source(t, b"user_id,item_id,item_id\nu1,i1,i2\n"), "interactions", 1,
     "<header>"),
    ("reserved kind in another case", lambda t: source(t, triples="i1,HAS_X,x,UseR\n"), "triples", 2, "tail_kind"),
    ("reserved relation in another case", lambda t: source(t, triples="i1,genre,Jazz,\ni1,Interacted,x,Thing\n"),
     "triples", 3, "relation"),
    ("relation spelt like a kind of the source", lambda t: source(t, triples="i1,HAS_T,x,Topic\ni1,TOPIC,y,Thing\n"),
     "triples", 3, "relation"),
    ("kind in another case than the stored one", lambda t: source(t, triples="i1,HAS_STYLE,x,GENRE\n"), "triples", 2,
     "tail_kind"),
    ("relation spelt like a stored kind", lambda t: source(t, triples="i1,MOOD,x,Thing\n"), "triples", 2,
     "relation"),
    ("NUL in an id", lambda t: source(t, (HEADER + "u1,i1,5,rating,10\nu\x009,i1,4,rating,11\n").encode()),
     "interactions", 3, "user_id"),
    ("newline in a quoted id", lambda t: source(t, (HEADER + 'u1,i1,5,rating,10\n"u\n9",i1,4,rating,11\n').encode()),
     "interactions", 4, "user_id"),
    ("invalid UTF-8 in an id", lambda t: source(t, HEADER.encode() + b"u1,i1,5,rating,10\nu\xff,i1,4,rating,11\n"),
     "interactions", 3, "user_id"),
    ("rating off the scale", lambda t: source(t, (HEADER + "u1,i1,5,rating,10\nu2,i2,-7,rating,11\n").encode()),
     "interactions", 3, "rating"),
    ("count over 64 bits", lambda t: source(t, b"user_id,item_id,count\nu1,i1,1\nu2,i2,99999999999999999999\n"),
     "interactions", 3, "count"),
    ("a 10 MB field", lambda t: source(t, items=b"item_id,title\ni1,ok\ni2," + b"x" * 10_000_000 + b"\ni1,again\n"),
     "items", 3, "<row>"),
]


@pytest.mark.parametrize(("case", "make", "file", "line", "field"), REFUSED, ids=[case[0] for case in REFUSED])
def test_a_hostile_file_is_refused_naming_file_line_and_field_and_changes_nothing(
        base: GraphStore, tmp_path: Path, case: str, make: Callable[[Path], Path], file: str, line: int,
        field: str) -> None:
    refused(base, make(tmp_path), file, line, field)


def test_a_byte_order_mark_and_quoted_newlines_load(base: GraphStore, tmp_path: Path) -> None:
    folder = source(tmp_path, b"\xef\xbb\xbf" + (HEADER + "u7,i1,4,rating,10\n").encode(),
                    items=b'item_id,title\ni1,"So\nWhat"\n')
    ingest(base, lambda: generic.read(folder))
    assert base.item("i1")["title"] == "So\nWhat"
    assert base.stats()["users"] == 3


def test_ids_are_stripped_of_surrounding_space_so_they_name_the_stored_ones(base: GraphStore, tmp_path: Path) -> None:
    users = base.stats()["users"]
    ingest(base, lambda: generic.read(source(tmp_path, (HEADER + " u1 , i2 ,4,rating,20\n").encode())))
    assert base.stats()["users"] == users


def test_skip_bad_reads_on_past_a_field_over_the_limit(store: GraphStore, tmp_path: Path) -> None:
    rows = [f"u{n},i{n},4,rating,{n}" for n in range(53)]
    rows[2] = "u2,i2," + "9" * 200_000 + ",rating,2"
    rows[1] += "\n"  # a blank line: the file goes to the csv module, which knows each row's line
    folder = source(tmp_path, (HEADER + "\n".join(rows) + "\n").encode())
    report = ingest(store, lambda: generic.read(folder), skip_bad=True, rejects_dir=tmp_path / "rejects")
    assert (report.rows_read, report.rows_rejected) == (53, 1)
    assert store.stats()["interactions"] == 52


def test_a_write_that_fails_leaves_no_table_of_a_new_kind_behind(base: GraphStore, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = source(tmp_path, triples="i1,HAS_TOPIC,x,Topic\n")
    before = snapshot(base)
    monkeypatch.setattr("graphrec.ingest.loader.tqdm", FailingProgress(1, disk_full))
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(base, lambda: generic.read(folder))
    monkeypatch.undo()
    assert snapshot(base) == before
    ingest(base, lambda: generic.read(folder))
    assert ("HAS_TOPIC", "Topic") in base.kg_pairs()
