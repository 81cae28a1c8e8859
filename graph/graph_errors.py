"""The graph layer's errors and names that callers need without loading a store (pandas, the drivers)."""

from __future__ import annotations

from typing import Literal

CandidateSource = Literal["kg", "collab"]


class GraphError(RuntimeError):
    """A graph operation that cannot be done as asked (unknown user, incompatible ids, backend down)."""


class GraphUnavailable(GraphError):
    """The graph server cannot be reached or answered with a transient failure: the graph is down for now."""
