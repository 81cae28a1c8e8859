"""Million Song Dataset taste profile: user, song, play_count (tab, no header), with a song metadata CSV
(song_id,title,release,artist_name,year; year 0 means unknown) and an optional genre file (song_id, genre;
tab; lines starting with # are comments). KG: song -> artist, song -> year, song -> genre."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import Dataset, make_dataset
from graphrec.ingest.readers import Column, TableSpec, ids, ints, read_table, texts


def read(path: Path, *, triplets: str = "train_triplets.txt", metadata: str = "song_data.csv",
         genres: str | None = None) -> Dataset:
    path = Path(path)
    triplet_file = path / triplets if path.is_dir() else path
    if not triplet_file.is_file():
        raise IngestError(f"{triplet_file}: no taste-profile triplets file")
    folder = triplet_file.parent
    plays = read_table(triplet_file, TableSpec(
        (Column("user_id", "id"), Column("song_id", "id"), Column("play_count", "int")), sep="\t"))
    plays.reject(ints(plays.frame["play_count"]) < 1, "play_count", "play count must be at least 1")
    tables = [plays]
    items, parts = None, []
    if (folder / metadata).is_file():
        songs = read_table(folder / metadata, TableSpec(
            (Column("song_id", "id"), Column("title", optional=True), Column("release", optional=True),
             Column("artist_name", optional=True), Column("year", "int", optional=True)), header=True))
        tables.append(songs)
        frame = songs.frame
        song_ids = ids(frame["song_id"])
        items = pd.DataFrame({"item_id": song_ids, "title": texts(frame["title"])})
        artist = frame["artist_name"].notna().to_numpy()
        parts.append(pd.DataFrame({"head": song_ids[artist].to_numpy(), "relation": "BY_ARTIST",
                                   "tail": frame.loc[artist, "artist_name"].astype(str).str.strip().to_numpy(),
                                   "tail_kind": "Artist"}))
        year = frame["year"].fillna(0).astype(int)
        known = (year > 0).to_numpy()
        parts.append(pd.DataFrame({"head": song_ids[known].to_numpy(), "relation": "RELEASED_IN",
                                   "tail": year[known].astype(str).to_numpy(), "tail_kind": "Year"}))
    if genres:
        genre_file = folder / genres
        table = read_table(genre_file, TableSpec((Column("song_id", "id"), Column("genre")), sep="\t",
                                                 quoting=False, comment="#"))
        tables.append(table)
        parts.append(pd.DataFrame({"head": ids(table.frame["song_id"]).to_numpy(), "relation": "HAS_GENRE",
                                   "tail": table.frame["genre"].astype(str).str.strip().to_numpy(),
                                   "tail_kind": "Genre"}))
    interactions = pd.DataFrame({"user_id": ids(plays.frame["user_id"]), "item_id": ids(plays.frame["song_id"]),
                                 "behavior": "play", "count": ints(plays.frame["play_count"])})
    return make_dataset("msd", interactions, items, pd.concat(parts, ignore_index=True) if parts else None,
                        rows_read=sum(t.rows_read for t in tables),
                        bad_rows=[row for t in tables for row in t.bad_rows], files=[t.path for t in tables])
