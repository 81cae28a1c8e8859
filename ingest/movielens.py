"""MovieLens in its three layouts: ml-100k (u.data, u.item), ml-1m (ratings.dat, movies.dat) and the CSV
layout of ml-latest-small / ml-25m (ratings.csv, movies.csv, tags.csv). KG: genre, release year, tags."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from graphrec.graph.behaviours import RATING_SCALE
from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import Dataset, make_dataset
from graphrec.ingest.readers import Column, Table, TableSpec, floats, ids, ints, read_table, texts

YEAR_IN_TITLE = r"\((\d{4})\)\s*$"


def read(path: Path) -> Dataset:
    path = Path(path)
    if (path / "u.data").is_file():
        return _read_100k(path)
    if (path / "ratings.dat").is_file():
        return _read_1m(path)
    if (path / "ratings.csv").is_file():
        return _read_csv_layout(path)
    raise IngestError(f"{path}: no MovieLens ratings found (expected u.data, ratings.dat or ratings.csv)")


def _ratings(table: Table) -> pd.DataFrame:
    frame = table.frame
    return pd.DataFrame({"user_id": ids(frame["user_id"]), "item_id": ids(frame["item_id"]),
                         "rating": floats(frame["rating"]), "behavior": "rating",
                         "last_ts": ints(frame["timestamp"])})


RATING_COLUMNS = (Column("user_id", "id"), Column("item_id", "id"), Column("rating", "float", bounds=RATING_SCALE),
                  Column("timestamp", "int"))


def _read_100k(path: Path) -> Dataset:
    ratings = read_table(path / "u.data", TableSpec(RATING_COLUMNS, sep="\t"))
    genre_names = _read_100k_genres(path / "u.genre")
    item_columns = (Column("item_id", "id"), Column("title", optional=True), Column("release_date", optional=True),
                    Column("video_release_date", optional=True), Column("imdb_url", optional=True),
                    *(Column(f"genre_{i}", "int") for i in range(len(genre_names))))
    movies = read_table(path / "u.item", TableSpec(item_columns, sep="|", encoding="latin-1", quoting=False))
    frame = movies.frame
    item_ids = ids(frame["item_id"])
    year = frame["release_date"].astype(str).str.extract(r"(\d{4})\s*$")[0]
    year = year.fillna(frame["title"].astype(str).str.extract(YEAR_IN_TITLE)[0])
    flags = frame[[f"genre_{i}" for i in range(len(genre_names))]].astype(int).to_numpy()
    rows, cols = flags.nonzero()
    triples = pd.concat([
        pd.DataFrame({"head": item_ids.iloc[rows].to_numpy(), "relation": "HAS_GENRE",
                      "tail": [genre_names[c] for c in cols], "tail_kind": "Genre"}),
        _years(item_ids, year),
    ], ignore_index=True)
    return _dataset("movielens-100k", ratings, movies, triples,
                    pd.DataFrame({"item_id": item_ids, "title": texts(frame["title"])}))


def _read_100k_genres(path: Path) -> list[str]:
    table = read_table(path, TableSpec((Column("name"), Column("index", "int")), sep="|"))
    genres = table.frame.assign(index=ints(table.frame["index"])).sort_values("index")
    if table.bad_rows or genres["index"].tolist() != list(range(len(genres))):
        raise IngestError(f"{path}: expected genre names numbered 0..n-1", table.bad_rows)
    return genres["name"].tolist()


def _read_1m(path: Path) -> Dataset:
    ratings = read_table(path / "ratings.dat", TableSpec(RATING_COLUMNS, sep="::"))
    movies = read_table(path / "movies.dat", TableSpec(
        (Column("item_id", "id"), Column("title"), Column("genres", optional=True)), sep="::",
        encoding="latin-1", quoting=False))
    return _movies_with_genre_list("movielens-1m", ratings, movies, tags=None)


def _read_csv_layout(path: Path) -> Dataset:
    ratings = read_table(path / "ratings.csv", TableSpec(
        (Column("userId", "id"), Column("movieId", "id"), Column("rating", "float", bounds=RATING_SCALE),
         Column("timestamp", "int")),
        header=True))
    ratings.frame = ratings.frame.rename(columns={"userId": "user_id", "movieId": "item_id"})
    movies = read_table(path / "movies.csv", TableSpec(
        (Column("movieId", "id"), Column("title"), Column("genres", optional=True)), header=True))
    movies.frame = movies.frame.rename(columns={"movieId": "item_id"})
    tags = None
    if (path / "tags.csv").is_file():
        tags = read_table(path / "tags.csv", TableSpec(
            (Column("userId", "id"), Column("movieId", "id"), Column("tag"), Column("timestamp", "int")),
            header=True))
    return _movies_with_genre_list(path.name or "movielens", ratings, movies, tags)


def _movies_with_genre_list(name: str, ratings: Table, movies: Table, tags: Table | None) -> Dataset:
    frame = movies.frame
    item_ids = ids(frame["item_id"])
    genres = pd.DataFrame({"head": item_ids.to_numpy(), "tail": frame["genres"].astype(str).str.split("|")})
    genres = genres.explode("tail")
    genres = genres[genres["tail"].notna() & ~genres["tail"].isin(["(no genres listed)", "", "nan"])]
    parts = [genres.assign(relation="HAS_GENRE", tail_kind="Genre"),
             _years(item_ids, frame["title"].astype(str).str.extract(YEAR_IN_TITLE)[0])]
    if tags is not None:
        tag_text = tags.frame["tag"].astype(str).str.strip()
        parts.append(pd.DataFrame({"head": ids(tags.frame["movieId"]).to_numpy(), "relation": "HAS_TAG",
                                   "tail": tag_text.to_numpy(), "tail_kind": "Tag"}))
    return _dataset(name, ratings, movies, pd.concat(parts, ignore_index=True),
                    pd.DataFrame({"item_id": item_ids, "title": texts(frame["title"])}),
                    extra=[tags] if tags is not None else None)


def _years(item_ids: pd.Series, years: pd.Series) -> pd.DataFrame:
    known = years.notna().to_numpy()
    return pd.DataFrame({"head": item_ids[known].to_numpy(), "relation": "RELEASED_IN",
                         "tail": years[known].astype(int).astype(str).to_numpy(), "tail_kind": "Year"})


def _dataset(name: str, ratings: Table, movies: Table, triples: pd.DataFrame, items: pd.DataFrame,
             extra: list[Table] | None = None) -> Dataset:
    tables = [ratings, movies, *(extra or [])]
    return make_dataset(name, _ratings(ratings), items, triples,
                        rows_read=sum(t.rows_read for t in tables),
                        bad_rows=[row for t in tables for row in t.bad_rows],
                        files=[t.path for t in tables])
