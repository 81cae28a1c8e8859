"""The dataset sources `graphrec ingest` reads (ingest.sources holds their readers)."""

from __future__ import annotations

from typing import Literal, get_args

SourceName = Literal["movielens", "taobao", "lastfm", "msd", "generic", "synthetic"]
SOURCE_NAMES: tuple[SourceName, ...] = get_args(SourceName)
