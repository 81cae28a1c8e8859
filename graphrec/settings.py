"""All configuration in one place, read from the environment (prefix GRAPHREC_) or a .env file.

The service's fields and their meaning live in graphrec.serving.config.ServiceConfig; this class reads them, and
the command line's own, from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from graphrec.serving.config import ServiceConfig


class Settings(BaseSettings, ServiceConfig):
    """Every setting, read from the environment (prefix GRAPHREC_) or a .env file."""

    model_config = SettingsConfigDict(env_prefix="GRAPHREC_", env_file=".env", extra="ignore")

    # Where `graphrec evaluate --dataset NAME` looks for NAME when it is not a path.
    datasets_dir: Path = Path("../shared/data")
    serve_host: str = "127.0.0.1"
    serve_port: int = Field(8000, ge=1, le=65_535)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
