"""All configuration in one place, read from the environment (prefix GRAPHREC_) or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAPHREC_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the embedded database, rejects and artifacts live.")
    graph_backend: Literal["ladybug", "neo4j"] = "ladybug"
    # Where `graphrec evaluate --dataset NAME` looks for NAME when it is not a path.
    datasets_dir: Path = Path("../shared/data")
    # LadybugDB's buffer pool defaults to 80% of RAM; a fixed size keeps a laptop usable.
    ladybug_buffer_pool_mb: int = Field(1024, ge=64)

    neo4j_uri: str | None = Field(None, validation_alias=AliasChoices("NEO4J_URI", "GRAPHREC_NEO4J_URI"))
    neo4j_user: str = Field("neo4j", validation_alias=AliasChoices("NEO4J_USER", "GRAPHREC_NEO4J_USER"))
    neo4j_password: SecretStr = Field(
        SecretStr("neo4j"), validation_alias=AliasChoices("NEO4J_PASSWORD", "GRAPHREC_NEO4J_PASSWORD")
    )
    neo4j_database: str = Field("neo4j", validation_alias=AliasChoices("NEO4J_DATABASE", "GRAPHREC_NEO4J_DATABASE"))
    neo4j_batch_size: int = Field(10_000, ge=1)

    # What counts as a positive interaction when seeding candidates and explanations.
    positive_min_rating: float = 4.0
    positive_behaviors: tuple[str, ...] = ("buy", "cart", "fav", "click", "purchase", "play", "listen")

    # Caps that bound the work one candidate request can do.
    candidate_max_seeds: int = Field(20, ge=1, description="Most recent positive items used as seeds.")
    candidate_max_entities: int = Field(50, ge=1, description="Entities kept per KG hop, most shared first.")
    candidate_max_frontier: int = Field(200, ge=1, description="Intermediate items kept in a 2-hop expansion.")
    candidate_max_neighbours: int = Field(50, ge=1, description="Co-users kept by overlap.")
    candidate_max_rows: int = Field(20_000, ge=1, description="Rows one collaborative expansion may touch.")

    # Serving: how much history and how many candidates one request uses.
    history_limit: int = Field(1_000, ge=1, description="Most recent interactions read per request.")
    session_recent: int = Field(20, ge=1, description="Recent positive items that make up the session state.")
    candidate_kg_limit: int = Field(200, ge=1)
    candidate_faiss_k: int = Field(100, ge=1)

    @property
    def ladybug_path(self) -> Path:
        return self.data_dir / "graph.lbdb"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejects"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
