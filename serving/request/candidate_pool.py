"""A user's candidate set as columns: item ids, the sources that proposed each, and their graph path counts.

Every cached request decodes the pool from Redis and ranks it, so it is kept as three flat lists (one JSON
array each) rather than one small object per candidate: at ~250 candidates, decoding and building the
per-item objects cost more than ranking them did. Per-item sources are joined with ``+`` and only split for
the k items a response shows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEPARATOR = "+"


@dataclass
class CandidatePool:
    items: list[Any] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # per item, its sources joined with SEPARATOR ("kg+faiss")
    paths: list[int] = field(default_factory=list)  # per item, graph paths from the seeds to it
    missing: list[str] = field(default_factory=list)  # dependencies down while it was built ("graph": no KG part)
    _position: dict[Any, int] | None = field(default=None, repr=False, compare=False)  # built on the first add

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Any, source: str, paths: int = 0) -> None:
        """Propose ``item`` from ``source``; an item proposed again gains the source and the paths."""
        if self._position is None:
            self._position = {existing: i for i, existing in enumerate(self.items)}
        position = self._position.get(item)
        if position is None:
            self._position[item] = len(self.items)
            self.items.append(item)
            self.sources.append(source)
            self.paths.append(paths)
            return
        if source not in self.sources_of(position):
            self.sources[position] += SEPARATOR + source
        self.paths[position] += paths

    def sources_of(self, position: int) -> list[str]:
        return self.sources[position].split(SEPARATOR)

    def source_counts(self) -> dict[str, int]:
        """How many of the items each source proposed (an item from two sources counts for both)."""
        return dict(Counter(source for joined in self.sources for source in joined.split(SEPARATOR)))

    def without(self, banned: set[Any]) -> CandidatePool:
        """The pool less the ``banned`` items (seen, excluded, in the request's context)."""
        if not banned:
            return CandidatePool(list(self.items), list(self.sources), list(self.paths), list(self.missing))
        keep = [i for i, item in enumerate(self.items) if item not in banned]
        return CandidatePool([self.items[i] for i in keep], [self.sources[i] for i in keep],
                             [self.paths[i] for i in keep], list(self.missing))

    def top_up(self, items: Iterable[Any], source: str, banned: set[Any], size: int) -> None:
        """Add ``items`` not banned from ``source`` until the pool holds ``size``."""
        for item in items:
            if len(self) >= size:
                return
            if item not in banned:
                self.add(item, source)

    def path_counts(self) -> np.ndarray:
        return np.asarray(self.paths, dtype=np.float64)

    # -- the cached form ---------------------------------------------------------------------------------------
    def to_json(self, version: str | None) -> str:
        return json.dumps({"version": version, "items": self.items, "sources": self.sources, "paths": self.paths,
                           "missing": self.missing})

    @classmethod
    def from_json(cls, raw: bytes | str) -> CandidatePool | None:
        """The pool in ``raw``; None for a payload of another layout (one cached by an older service: a miss
        that the next request rewrites)."""
        data = json.loads(raw)
        items, sources, paths = data.get("items"), data.get("sources"), data.get("paths")
        if not (isinstance(items, list) and isinstance(sources, list) and isinstance(paths, list)
                and len(items) == len(sources) == len(paths)):
            return None
        missing = data.get("missing", [])
        return cls(items, sources, paths, missing if isinstance(missing, list) else [])
