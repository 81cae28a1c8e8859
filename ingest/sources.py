"""Source adapters by name, and a guess of the source from what a folder holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphrec.ingest import generic, lastfm, movielens, msd, synthetic, taobao
from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import Dataset
from graphrec.ingest.source_names import SOURCE_NAMES as SOURCE_NAMES
from graphrec.ingest.source_names import SourceName as SourceName

# The files that identify a layout, checked in this order.
MARKERS = (("u.data", "movielens"), ("ratings.dat", "movielens"), ("ratings.csv", "movielens"),
           ("user_artists.dat", "lastfm"), ("interactions.csv", "generic"), ("train_triplets.txt", "msd"))


def detect_source(path: Path) -> str:
    if path.is_dir():
        for marker, source in MARKERS:
            if (path / marker).is_file():
                return source
        if any(path.glob("UserBehavior*.csv")):
            return "taobao"
    elif path.name.startswith("UserBehavior"):
        return "taobao"
    raise IngestError(f"{path}: cannot tell the source layout; name it ({', '.join(SOURCE_NAMES)})")


def read_source(source: str, path: Path | None, **options: Any) -> Dataset:
    """Read ``path`` with the adapter ``source``; options are the adapter's keyword arguments."""
    if source == "synthetic":
        return synthetic.generate(**options)
    if path is None:
        raise IngestError(f"{source} needs a path")
    readers = {"movielens": movielens.read, "taobao": taobao.read, "lastfm": lastfm.read, "msd": msd.read,
               "generic": generic.read}
    if source not in readers:
        raise IngestError(f"unknown source {source!r}; choose one of {', '.join(SOURCE_NAMES)}")
    return readers[source](path, **options)
