"""What a recommendation says about itself: its title, and reasons as graph paths from the user to the item
(graph.explain, Cypher), or its candidate source when no path connects them."""

from __future__ import annotations

import threading
from itertools import islice
from typing import Any

from graphrec.graph.explain import Explanation
from graphrec.graph.explain import explain as explain_paths
from graphrec.graph.ids import plain_ids
from graphrec.serving.request.graph_access import GraphAccess


class Explanations:
    def __init__(self, graph: GraphAccess, title_cache_items: int) -> None:
        self.graph = graph
        # A plain dict, oldest entries dropped past the bound: every cached answer reads ten titles, and an LRU's
        # bookkeeping on each read costs more than the read (the default bound holds a whole catalogue).
        self._titles: dict[Any, str | None] = {}
        self._title_bound = max(title_cache_items, 1)
        self._titles_lock = threading.Lock()

    def titles(self, items: list[Any]) -> dict[Any, str | None]:
        """Each item's title (None when it has none or the graph cannot say), cached in-process."""
        with self._titles_lock:
            missing = [item for item in items if item not in self._titles]
        if missing:
            rows = self.graph.optional(lambda store: store.run("items_by_id", {"item_ids": missing}), None)
            if rows is not None:
                with self._titles_lock:
                    titles = rows["title"].where(rows["title"].notna(), None)
                    self._titles.update(zip(plain_ids(rows["id"]), titles, strict=True))
                    for oldest in list(islice(self._titles, max(len(self._titles) - self._title_bound, 0))):
                        del self._titles[oldest]
        with self._titles_lock:
            return {item: self._titles.get(item) for item in items}

    def cached_titles(self, items: list[Any]) -> list[str | None] | None:
        """The items' titles if this process has every one of them, without asking the graph; else None."""
        titles = self._titles
        with self._titles_lock:
            try:
                return [titles[item] for item in items]
            except KeyError:
                return None

    def reasons(self, user_id: Any, item_id: Any, sources: list[str]) -> list[str]:
        """One sentence per reason: the shortest graph path, else what the candidate source says."""
        reasons = [path.sentence for path in self.graph.optional(
            lambda store: explain_paths(store, user_id, item_id, k=1), [])]
        if "faiss" in sources and not reasons:
            reasons.append("Close to what you liked in the learned embedding space.")
        if sources == ["popular"]:
            reasons.append("Popular with other users.")
        return reasons

    def paths(self, user_id: Any, item_id: Any, k: int = 3, interacted: bool | None = None) -> list[Explanation]:
        """The graph paths that connect the user to the item (graph.explain.explain, ``interacted`` as there);
        serving.resilience.guard.Unavailable when the graph is down."""
        return self.graph.call(lambda store: explain_paths(store, user_id, item_id, k, interacted))
