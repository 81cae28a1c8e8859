"""The ingest layer's section of the settings: where named datasets are found.

graphrec.settings reads it from the environment (GRAPHREC_<FIELD>) with the other layers' sections."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets_dir: Path = Field(default=Path("../shared/data"), description=(
        "Where a dataset named on the command line (`graphrec evaluate --dataset NAME`) is looked for when the "
        "name is not a path."))
