"""Last.fm HetRec 2011: items are artists, interactions carry the play count, KG artist -> tag.

user_artists.dat: userID artistID weight (tab, header). artists.dat: id name url pictureURL (UTF-8; names may
hold bare quote characters, so no CSV quoting). tags.dat: tagID tagValue (latin-1). user_taggedartists.dat:
userID artistID tagID day month year.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from graphrec.ingest.frames import Dataset, make_dataset
from graphrec.ingest.readers import Column, TableSpec, ids, ints, read_table, texts


def read(path: Path) -> Dataset:
    path = Path(path)
    plays = read_table(path / "user_artists.dat", TableSpec(
        (Column("userID", "id"), Column("artistID", "id"), Column("weight", "int")), sep="\t", header=True))
    plays.reject(ints(plays.frame["weight"]) < 1, "weight", "play count must be at least 1")
    tables = [plays]
    items = None
    artists_file = path / "artists.dat"
    if artists_file.is_file():
        artists = read_table(artists_file, TableSpec(
            (Column("id", "id"), Column("name", optional=True), Column("url", optional=True),
             Column("pictureURL", optional=True)), sep="\t", header=True, quoting=False, min_columns=2))
        tables.append(artists)
        items = pd.DataFrame({"item_id": ids(artists.frame["id"]), "title": texts(artists.frame["name"])})
    triples = None
    if (path / "tags.dat").is_file() and (path / "user_taggedartists.dat").is_file():
        tags = read_table(path / "tags.dat", TableSpec(
            (Column("tagID", "id"), Column("tagValue")), sep="\t", header=True, encoding="latin-1", quoting=False))
        tagged = read_table(path / "user_taggedartists.dat", TableSpec(
            (Column("userID", "id"), Column("artistID", "id"), Column("tagID", "id"), Column("day", "int"),
             Column("month", "int"), Column("year", "int")), sep="\t", header=True))
        tables += [tags, tagged]
        names = pd.Series(tags.frame["tagValue"].astype(str).str.strip().to_numpy(),
                          index=ids(tags.frame["tagID"]).to_numpy())
        tagged.reject(~ids(tagged.frame["tagID"]).isin(names.index).to_numpy(), "tagID", "tag id not in tags.dat")
        triples = pd.DataFrame({"head": ids(tagged.frame["artistID"]).to_numpy(), "relation": "HAS_TAG",
                                "tail": names.loc[ids(tagged.frame["tagID"]).to_numpy()].to_numpy(),
                                "tail_kind": "Tag"})
    frame = plays.frame
    interactions = pd.DataFrame({"user_id": ids(frame["userID"]), "item_id": ids(frame["artistID"]),
                                 "behavior": "play", "count": ints(frame["weight"])})
    return make_dataset("lastfm", interactions, items, triples, rows_read=sum(t.rows_read for t in tables),
                        bad_rows=[row for t in tables for row in t.bad_rows], files=[t.path for t in tables])
