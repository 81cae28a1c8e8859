"""The graphrec command line: one subcommand per task, one module per area.

    data      ingest, export, replay-dead-letters
    graph     stats, candidates, explain
    model     train, index, publish, evaluate, refresh
    policy    train-policy, evaluate-policy
    service   serve, new-key, settings, doctor, demo

The commands stay at the top level (`graphrec train`); `graphrec --help` lists them under their area. Logging
is set up once, here, for every command.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Literal

import typer

from graphrec.cli import data, graph, model, policy, service

app = typer.Typer(help="graphrec: a graph-database-backed recommender.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
for area in (data, graph, model, policy, service):
    app.add_typer(area.app)


@app.callback()
def configure(
    log_level: Annotated[Literal["debug", "info", "warning", "error"], typer.Option(
        help="What graphrec's own messages (progress, choices, timings) are shown from; other libraries log "
             "warnings and errors only.")] = "info",
) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("graphrec").setLevel(log_level.upper())


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])
