"""`graphrec refresh` on a MovieLens-1M-sized graph, end to end, warm and cold.

A synthetic graph of 6,340 users, 3,706 items and about 1.05M interactions is cut in two: the users with ids up
to 6,040 (about 1M interactions) are ingested into LadybugDB and a first version is trained (`graphrec train`,
early stopping), indexed and published; then the other 300 users arrive (`graphrec ingest`), and
`graphrec refresh` runs as an operator would run it: export, train (warm from the current version), index,
compare on the holdout, publish. A second refresh on the same graph retrains cold (--no-warm --force), which
gives the quality a warm start is measured against: both are scored on the same holdout of the same graph.

    python -m benchmarks.refresh_at_scale [--data-dir var/refresh-1m] [--interactions 1050000]

Prints the wall clock of each command and the stages of each refresh (refresh.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.ingest_and_query import write_generic


def graphrec(data_dir: Path, *args: str) -> float:
    """Run one `graphrec` command on ``data_dir``; its wall clock in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "graphrec", *args], check=True,
                   env={**os.environ, "GRAPHREC_DATA_DIR": str(data_dir)}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("var/refresh-1m"))
    parser.add_argument("--users", type=int, default=6_340)
    parser.add_argument("--items", type=int, default=3_706)
    parser.add_argument("--interactions", type=int, default=1_050_000)
    parser.add_argument("--known-users", type=int, default=6_040, help="users ingested before the first version")
    args = parser.parse_args()
    print(f"# refresh at scale, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores")
    data_dir = args.data_dir.resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    full, first, later = data_dir / "csv-all", data_dir / "csv-first", data_dir / "csv-later"
    write_generic(full, args.users, args.items, args.interactions, seed=42)
    import pandas as pd

    interactions = pd.read_csv(full / "interactions.csv")
    known = interactions["user_id"] <= args.known_users
    for folder, rows in ((first, interactions[known]), (later, interactions[~known])):
        folder.mkdir()
        rows.to_csv(folder / "interactions.csv", index=False)
        for name in ("items.csv", "triples.csv"):
            shutil.copy(full / name, folder / name)
    print(f"first graph: {int(known.sum()):,} interactions of {args.known_users:,} users; later: "
          f"{int((~known).sum()):,} interactions of {args.users - args.known_users:,} new users")
    timings = {"ingest first": graphrec(data_dir, "ingest", "generic", "--path", str(first)),
               "train (cold, early stopping)": graphrec(data_dir, "train"),
               "index": graphrec(data_dir, "index"), "publish": graphrec(data_dir, "publish"),
               "ingest later": graphrec(data_dir, "ingest", "generic", "--path", str(later))}
    reports = {}
    for label, options in (("refresh (warm)", []), ("refresh (cold, --no-warm --force)", ["--no-warm", "--force"])):
        timings[label] = graphrec(data_dir, "refresh", *options)
        reports[label] = json.loads((data_dir / "artifacts" / "refresh.json").read_text())
    for label, seconds in timings.items():
        print(f"{label:<36} {seconds:8.1f} s")
    for label, report in reports.items():
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in report["stages"].items())
        print(f"{label}: holdout NDCG@10 new {report['new_ndcg']:.4f}, current {report['current_ndcg']:.4f}; "
              f"{report['seconds']:.1f} s in the job ({stages}); warm start {report['warm_start']}; "
              f"{report['reason']}")


if __name__ == "__main__":
    main()
