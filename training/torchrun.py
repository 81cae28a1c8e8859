"""The entry point each ``torchrun`` process runs: train an encoder from a graph snapshot with DDP.

    torchrun --standalone --nproc-per-node N -m graphrec.training.torchrun --snapshot SNAPSHOT_DIR \\
        --artifacts-dir ARTIFACTS [--model lightgcn] [--config '{"epochs": 50}'] [--seed 42] [--holdout 0.1]

``graphrec train --nproc N`` writes the snapshot and runs this command. Every process reads the snapshot and
trains its share of each batch (training.distributed); the main process writes the artifact version and
prints its folder on the last line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from torch import distributed as dist

from graphrec.training import distributed
from graphrec.training.pipeline import fit_encoder, write_encoder
from graphrec.training.snapshot import read_snapshot


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, required=True)
    parser.add_argument("--artifacts-dir", type=Path, required=True)
    parser.add_argument("--model", default="lightgcn")
    parser.add_argument("--config", type=json.loads, default={}, help="JSON overrides of the model's defaults")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--refit", action="store_true")
    args = parser.parse_args(argv)
    distributed.init_from_environment()
    try:
        trained = fit_encoder(*read_snapshot(args.snapshot), args.model, args.config, refit=args.refit,
                              seed=args.seed, holdout=args.holdout)
        if distributed.is_main_process():  # every process trained the same model; one writes it
            print(write_encoder(args.artifacts_dir, trained), flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
