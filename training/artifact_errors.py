"""The artifact store's error, importable without the store (pandas)."""

from __future__ import annotations


class ArtifactError(RuntimeError):
    """An artifact set that is missing, partial or corrupt."""
