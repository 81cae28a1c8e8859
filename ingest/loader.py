"""Loads one source into the graph store: read, refuse or set aside bad rows, diff, write, report."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from graphrec.graph.store import GraphStore
from graphrec.ingest.errors import BadRow, IngestError
from graphrec.ingest.frames import Dataset
from graphrec.ingest.upsert import plan_upsert


@dataclass
class IngestReport:
    source: str
    rows_read: int
    rows_written: int
    rows_rejected: int
    seconds: float
    written: dict[str, int] = field(default_factory=dict)
    reject_file: Path | None = None
    unknown_item_rows: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        parts = ", ".join(f"{name} {n:,}" for name, n in self.written.items() if n)
        text = (f"{self.source}: read {self.rows_read:,} rows, wrote {self.rows_written:,} "
                f"({parts or 'nothing new'}), rejected {self.rows_rejected:,}, "
                f"{self.seconds:.2f} s, {self.rows_per_second:,.0f} rows/s")
        if self.unknown_item_rows:
            text += (f"\nskipped {self.unknown_item_rows:,} knowledge-graph rows naming items the source has neither "
                     "in its item table nor in its interactions")
        return text + (f"\nrejected rows written to {self.reject_file}" if self.reject_file else "")


def ingest(store: GraphStore, read: Callable[[], Dataset], *, skip_bad: bool = False,
           rejects_dir: Path | None = None, show_progress: bool | None = None) -> IngestReport:
    """Read a source with ``read`` and upsert it. Bad rows abort the whole source unless ``skip_bad``."""
    started = time.perf_counter()
    dataset = read()
    reject_file = None
    if dataset.bad_rows:
        if not skip_bad:
            raise IngestError(f"{len(dataset.bad_rows):,} bad rows in {dataset.name}; nothing was written "
                              "(--skip-bad loads the good rows and sets the bad ones aside)", dataset.bad_rows)
        reject_file = write_rejects(dataset.bad_rows, rejects_dir or Path("."), dataset.name)
    plan = plan_upsert(store, dataset)
    with tqdm(total=plan.rows_written, unit="rows", desc=f"writing {dataset.name}",
              disable=None if show_progress is None else not show_progress, leave=False) as progress:
        store.write(plan, progress)
    return IngestReport(source=dataset.name, rows_read=dataset.rows_read, rows_written=plan.rows_written,
                        rows_rejected=len(dataset.bad_rows), seconds=time.perf_counter() - started,
                        written=plan.counts, reject_file=reject_file, unknown_item_rows=dataset.unknown_item_rows)


def write_rejects(bad_rows: list[BadRow], folder: Path, source: str) -> Path:
    """One CSV of rejected rows: file, line, field, reason and the line's text as read."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{source}-{stamp}.rejects.csv"
    texts: dict[Path, list[str]] = {}
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "line", "field", "reason", "text"])
        for row in sorted(bad_rows, key=lambda row: (str(row.path), row.line)):
            if row.path not in texts:
                texts[row.path] = row.path.read_bytes().decode("utf-8", errors="replace").split("\n")
            lines = texts[row.path]
            text = lines[row.line - 1].rstrip("\r") if 0 < row.line <= len(lines) else ""
            writer.writerow([str(row.path), row.line, row.field, row.reason, text])
    return target
