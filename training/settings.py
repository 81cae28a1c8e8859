"""The training layer's section of the settings: how the refresh job holds out pairs, compares and keeps versions.

graphrec.settings reads it from the environment (GRAPHREC_<FIELD>) with the other layers' sections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    holdout_fraction: float = Field(default=0.1, gt=0, lt=0.5, description=(
        "Share of pairs held out for validation, the same for training and for the refresh's comparison."))
    refresh_tolerance: float = Field(default=0.0, ge=0, description=(
        "The refresh publishes a new version only if its holdout NDCG@10 is at least the current one's minus this."))
    artifact_versions_kept: int = Field(default=5, ge=1, description=(
        "Publishing keeps this many newest artifact versions, plus the current one and any a running service "
        "still serves; older ones are removed."))
