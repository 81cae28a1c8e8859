"""A user's candidate set as columns: item ids, the sources that proposed each, and their graph path counts.

Every cached request decodes the pool from Redis, so it is kept as three flat lists (one array each) rather
than one small object per candidate: at ~250 candidates, decoding and building the per-item objects cost more
than ranking them did. Per-item sources are joined with ``+`` and only split for the k items a response shows.

The cached form is ranked: the served policy's order over the whole pool, with the user's seen items removed
and each item's score (``ranked``), written by the request that built or re-ranked it. The order depends only on
the version, the policy and the user's state, and feedback, the one thing that changes the state, rewrites the
set; so a cached request walks the order until it has k items the request does not exclude (``walk``) instead of
scoring the pool again. The form is binary (to_bytes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

SEPARATOR = "+"
MAGIC = b"GRCP1"  # the cached form's layout; a payload without it is a miss


@dataclass
class CandidatePool:
    items: list[Any] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # per item, its sources joined with SEPARATOR ("kg+faiss")
    paths: list[int] = field(default_factory=list)  # per item, graph paths from the seeds to it
    missing: list[str] = field(default_factory=list)  # dependencies down while it was built ("graph": no KG part)
    ranked: Ranking | None = None  # the order the columns are in, when a policy ranked them
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
        counts: Counter[str] = Counter()
        for joined, items in Counter(self.sources).items():  # a few distinct joins: each split once
            for source in joined.split(SEPARATOR):
                counts[source] += items
        return dict(counts)

    def without(self, banned: set[Any]) -> CandidatePool:
        """The pool less the ``banned`` items (seen, excluded, in the request's context), unranked."""
        if not banned:
            return CandidatePool(list(self.items), list(self.sources), list(self.paths), list(self.missing))
        keep = [i for i, item in enumerate(self.items) if item not in banned]
        return self.taken(keep)

    def taken(self, positions: list[int], ranked: Ranking | None = None) -> CandidatePool:
        """The items at ``positions``, in that order."""
        def take(column: list[Any]) -> list[Any]:
            return list(map(column.__getitem__, positions))

        return CandidatePool(take(self.items), take(self.sources), take(self.paths), list(self.missing), ranked)

    # -- the ranked form -----------------------------------------------------------------------------------------
    def ranked_by(self, version: str | None, policy: str) -> bool:
        return self.ranked is not None and self.ranked.version == version and self.ranked.policy == policy

    def walk(self, k: int, banned: set[Any]) -> list[int] | None:
        """The positions of the first ``k`` items not ``banned``, in the ranked order; None when fewer remain
        (the pool is then topped up and ranked again)."""
        if not banned:
            return list(range(k)) if len(self.items) >= k else None
        found = []
        for i, item in enumerate(self.items):
            if item not in banned:
                found.append(i)
                if len(found) == k:
                    return found
        return None

    def count_without(self, banned: set[Any]) -> int:
        """How many items are not ``banned`` (an answer's ``candidates``)."""
        return len(self.items) - (len(banned.intersection(self.items)) if banned else 0)

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
    def to_bytes(self, version: str | None) -> bytes:
        """The cached form: MAGIC, the header's length, the header (orjson: the layout and the ranking's
        version, policy and counts), then the columns as arrays (items as int64 when every id is an integer,
        else as an orjson list; scores float64; paths int32; sources as one byte each, codes into the header's
        table). Decoding it costs a few array copies instead of parsing hundreds of numbers as text."""
        table = list(dict.fromkeys(self.sources))
        code = {joined: i for i, joined in enumerate(table)}
        integers = set(map(type, self.items)) <= {int}
        items = b""
        if integers:
            try:
                items = np.asarray(self.items, dtype=np.int64).tobytes()
            except OverflowError:  # an id beyond 64 bits: the list form
                integers = False
        if not integers:
            items = orjson.dumps(self.items)
        ranked = self.ranked
        ranking = None if ranked is None else {"version": ranked.version, "policy": ranked.policy,
                                               "counts": ranked.counts}
        header = orjson.dumps({"version": version, "n": len(self.items), "integers": integers,
                               "items_bytes": len(items), "sources": table, "missing": self.missing,
                               "ranked": ranking})
        scores = np.asarray(ranked.scores if ranked is not None else [], dtype=np.float64).tobytes()
        return b"".join([MAGIC, len(header).to_bytes(4, "little"), header, items, scores,
                         np.asarray(self.paths, dtype=np.int32).tobytes(),
                         bytes(map(code.__getitem__, self.sources))])  # a few sources: < 256 combinations

    @classmethod
    def from_bytes(cls, raw: bytes) -> CandidatePool | None:
        """The pool in ``raw``; None for a payload of another layout (one cached by an older service: a miss that
        the next request rewrites)."""
        read = cls.cached_head(raw, None)
        return None if read is None else read[0]

    @classmethod
    def cached_head(cls, raw: bytes, head: int | None) -> tuple[CandidatePool, int] | None:
        """from_bytes' pool cut to its first ``head`` items (all with None), and how many items the whole pool has:
        a cached answer reads the top of a ranked pool, and decoding all of it cost more than the rest of the
        answer."""
        if not raw.startswith(MAGIC):
            return None
        at = len(MAGIC) + 4
        end = at + int.from_bytes(raw[len(MAGIC):at], "little")
        header = orjson.loads(raw[at:end])
        n, items_end = header["n"], end + header["items_bytes"]
        m = n if head is None else min(head, n)
        items = np.frombuffer(raw, np.int64, m, end).tolist() if header["integers"] \
            else orjson.loads(raw[end:items_end])[:m]
        ranked, at = header["ranked"], items_end
        scores: list[float] = []
        if ranked is not None:
            scores, at = np.frombuffer(raw, np.float64, m, at).tolist(), at + 8 * n
        paths, at = np.frombuffer(raw, np.int32, m, at).tolist(), at + 4 * n
        if len(raw) - at != n or len(items) != m:
            return None
        sources = list(map(header["sources"].__getitem__, raw[at:at + m]))
        return cls(items, sources, paths, header["missing"], None if ranked is None
                   else Ranking(ranked["version"], ranked["policy"], scores, ranked["counts"])), n


@dataclass(frozen=True)
class Ranking:
    """Which policy of which version put a pool in its order, the score of each item, and how many items each
    source proposed (the metrics of every answer from it)."""

    version: str | None
    policy: str
    scores: list[float]
    counts: dict[str, int]
