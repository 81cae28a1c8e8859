"""What one answer was served without: the record each part of the request path marks when a dependency
(Redis, the graph) fails or is skipped, and that the answer reports as its `degraded` list."""

from __future__ import annotations

from collections.abc import Iterable


class Degradation:
    def __init__(self, dependencies: Iterable[str] = ()) -> None:
        self._missing: set[str] = set(dependencies)

    def mark(self, dependency: str) -> None:
        self._missing.add(dependency)

    def __contains__(self, dependency: object) -> bool:
        return dependency in self._missing

    def names(self) -> list[str]:
        """The dependencies missed, sorted: what the answer says."""
        return sorted(self._missing)
