"""Errors raised while reading source files, each pointing at file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BadRow:
    """One rejected input line: where it is, which field is wrong and why."""

    path: Path
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: field '{self.field}': {self.reason}"


class IngestError(ValueError):
    """Input that cannot be loaded as it is. Nothing from the source was written."""

    def __init__(self, message: str, bad_rows: list[BadRow] | None = None) -> None:
        self.bad_rows = sorted(bad_rows or [], key=lambda row: (str(row.path), row.line))
        shown = "\n".join(f"  {row}" for row in self.bad_rows[:20])
        more = len(self.bad_rows) - 20
        suffix = f"\n  ... and {more} more bad rows" if more > 0 else ""
        super().__init__(f"{message}\n{shown}{suffix}" if shown else message)
