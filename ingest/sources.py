"""The source adapters by name, as the CLI offers them."""

from __future__ import annotations

from collections.abc import Callable

from ingest import generic, lastfm, movielens, msd, synthetic, taobao
from ingest.frames import Dataset

SOURCES: dict[str, Callable[..., Dataset]] = {
    "movielens": movielens.read,
    "taobao": taobao.read,
    "lastfm": lastfm.read,
    "msd": msd.read,
    "generic": generic.read,
    "synthetic": synthetic.generate,
}
