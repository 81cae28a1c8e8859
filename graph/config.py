"""What the graph layer needs from the service's settings: the backend, how to reach it and the candidate caps
(graph.behaviours owns the rule for a positive interaction). The composition root builds it
(graphrec.settings.Settings.graph_config), so the graph layer depends on no settings class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class GraphConfig:
    graph_backend: Literal["ladybug", "neo4j"]
    ladybug_path: Path
    ladybug_buffer_pool_mb: int
    ladybug_checkpoint_kb: int
    neo4j_uri: str | None
    neo4j_user: str
    neo4j_password: str
    neo4j_database: str
    neo4j_batch_size: int
    neo4j_connect_timeout_s: float
    neo4j_acquire_timeout_s: float
    neo4j_retry_s: float
    neo4j_query_timeout_s: float
    neo4j_pool_size: int
    candidate_max_seeds: int
    candidate_max_entities: int
    candidate_max_frontier: int
    candidate_max_neighbours: int
    candidate_max_rows: int
