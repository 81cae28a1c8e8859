"""Each source adapter turns its layout into the canonical frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from graphrec.ingest import generic, lastfm, movielens, msd, taobao
from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import INTERACTION_COLUMNS, make_dataset
from graphrec.ingest.synthetic import generate
from tests import fixtures


def kg(dataset, relation: str) -> set[tuple]:  # type: ignore[no-untyped-def]
    rows = dataset.triples[dataset.triples["relation"] == relation]
    return set(zip(rows["head"], rows["tail"], strict=True))


def test_movielens_100k(tmp_path: Path) -> None:
    data = movielens.read(fixtures.movielens_100k(tmp_path))
    assert list(data.interactions.columns) == list(INTERACTION_COLUMNS)
    assert len(data.interactions) == 5 and data.interactions["user_id"].dtype == "int64"
    assert kg(data, "HAS_GENRE") == {(1, "Comedy"), (2, "Action"), (3, "unknown"), (3, "Action"), (3, "Comedy")}
    assert kg(data, "RELEASED_IN") == {(1, "1995"), (2, "1995"), (3, "1996")}  # 3: year from the title
    assert data.items.set_index("item_id").loc[3, "title"] == "Café Society (1996)"  # latin-1 decoded


def test_movielens_1m(tmp_path: Path) -> None:
    data = movielens.read(fixtures.movielens_1m(tmp_path))
    assert len(data.interactions) == 3
    assert kg(data, "HAS_GENRE") == {(1193, "Drama"), (661, "Animation"), (661, "Children's"), (661, "Musical")}
    assert kg(data, "RELEASED_IN") == {(1193, "1975"), (661, "1996")}


def test_movielens_csv_layout(tmp_path: Path) -> None:
    data = movielens.read(fixtures.movielens_csv(tmp_path))
    assert data.interactions["rating"].tolist() == [4.0, 4.5, 2.5]
    assert (5, "(no genres listed)") not in kg(data, "HAS_GENRE")
    assert kg(data, "HAS_TAG") == {(1, "pixar"), (3, "funny, sweet")}
    assert 5 in set(data.items["item_id"])  # catalogue items without ratings are kept


def test_taobao_keeps_every_behaviour_and_counts_events(tmp_path: Path) -> None:
    data = taobao.read(fixtures.taobao(tmp_path))
    rows = data.interactions.set_index(["user_id", "item_id", "behavior"])
    assert rows.loc[(1, 100, "pv"), "count"] == 2 and rows.loc[(1, 100, "pv"), "last_ts"] == 1511544080
    assert int(data.interactions["count"].sum()) == 5
    assert kg(data, "IN_CATEGORY") == {(100, "7"), (101, "8")}


def test_taobao_filters(tmp_path: Path) -> None:
    path = fixtures.taobao(tmp_path)
    assert set(taobao.read(path, min_user_interactions=3).interactions["user_id"]) == {1}
    assert set(taobao.read(path, min_item_interactions=4).interactions["item_id"]) == {100}


def test_taobao_unknown_behaviour_is_a_bad_row(tmp_path: Path) -> None:
    path = fixtures.write(tmp_path / "t.csv", "1,100,7,pv,1\n1,100,7,steal,2\n")
    data = taobao.read(path)
    assert [(row.line, row.field) for row in data.bad_rows] == [(2, "behavior")]


def test_lastfm(tmp_path: Path) -> None:
    data = lastfm.read(fixtures.lastfm(tmp_path))
    assert data.interactions.set_index(["user_id", "item_id"]).loc[(2, 51), "count"] == 13883
    assert data.items.set_index("item_id").loc[51, "title"] == 'Duran "Duran"'
    assert kg(data, "HAS_TAG") == {(52, "chillout"), (51, "metal")}


def test_msd(tmp_path: Path) -> None:
    data = msd.read(fixtures.msd(tmp_path), genres="genres.tsv")
    assert data.interactions["user_id"].dtype == object  # text ids stay text
    assert kg(data, "BY_ARTIST") == {("SOAKIMP12A8C130995", "Jack Johnson"), ("SOBBMDR12A8C13253B", "Paco De Lucia")}
    assert kg(data, "RELEASED_IN") == {("SOBBMDR12A8C13253B", "1976")}  # year 0 is unknown
    assert kg(data, "HAS_GENRE") == {("SOBBMDR12A8C13253B", "Latin")}


def test_generic(tmp_path: Path) -> None:
    data = generic.read(fixtures.generic(tmp_path))
    assert set(data.interactions["behavior"]) == {"rating", "click"}
    kinds = set(zip(data.triples["relation"], data.triples["tail_kind"], strict=True))
    assert kinds == {("HAS_GENRE", "Genre"), ("HAS_MOOD", "Mood")}
    # i3 is in neither items.csv nor the interactions: its triple is skipped and counted, not made an item
    assert "i3" not in set(data.items["item_id"]) and data.unknown_item_rows == 1


@pytest.mark.parametrize(("column", "value"), [("tail_kind", "ITEM"), ("tail_kind", "USER"), ("relation", "ORDER"),
                                                ("relation", "INTERACTED"), ("tail_kind", "Match")])
def test_reserved_kinds_and_relations_are_refused_naming_the_line(tmp_path: Path, column: str, value: str) -> None:
    folder = fixtures.generic(tmp_path)
    row = {"tail_kind": f"i1,HAS_X,x,{value}", "relation": f"i1,{value},x,Thing"}[column]
    fixtures.write(folder / "triples.csv", f"head,relation,tail,tail_kind\ni2,genre,Jazz,\n{row}\n")
    data = generic.read(folder)
    assert [(row.line, row.field) for row in data.bad_rows] == [(3, column)]
    assert value in data.bad_rows[0].reason and len(data.triples) == 1
    with pytest.raises(IngestError, match=f"{column} '{value}' is"):  # any other source: refused whole
        make_dataset("t", data.interactions, data.items, pd.DataFrame(
            {"head": ["i1"], "relation": [value if column == "relation" else "HAS_X"], "tail": ["x"],
             "tail_kind": [value if column == "tail_kind" else "Thing"]}))


def test_generic_rejects_bad_header(tmp_path: Path) -> None:
    fixtures.write(tmp_path / "interactions.csv", "user,item\n1,2\n")
    with pytest.raises(ValueError, match=r"interactions\.csv:1: field '<header>': header"):
        generic.read(tmp_path)


def test_synthetic_is_deterministic_and_exact() -> None:
    first, second = generate(200, 150, 4_000, seed=3), generate(200, 150, 4_000, seed=3)
    assert len(first.interactions) == 4_000
    assert not first.interactions.duplicated(["user_id", "item_id"]).any()
    assert first.interactions.equals(second.interactions) and first.triples.equals(second.triples)
    assert set(first.triples["tail_kind"]) == {"Artist", "Year", "Genre"}
    assert not generate(200, 150, 4_000, seed=4).interactions.equals(first.interactions)


def test_generic_rejects_zero_counts_and_accepts_blank_behaviour(tmp_path: Path) -> None:
    fixtures.write(tmp_path / "interactions.csv", "user_id,item_id,behavior,count\n1,2,,3\n1,3,buy,0\n")
    data = generic.read(tmp_path)
    assert [(row.line, row.field) for row in data.bad_rows] == [(3, "count")]
    assert data.interactions[["behavior", "count"]].values.tolist() == [["rating", 3]]
