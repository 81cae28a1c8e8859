"""What every area of the command line shares: the settings, the graph, errors and JSON output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from graphrec.graph.graph_errors import GraphError
from graphrec.settings import Settings, get_settings

if TYPE_CHECKING:
    from graphrec.graph.store import GraphStore


def settings() -> Settings:
    return get_settings()


def fail(error: Exception) -> NoReturn:
    """Say what went wrong, in red on stderr, and exit with code 2."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def open_graph(read_only: bool = False) -> GraphStore:
    from graphrec.graph.factory import open_store  # pandas and the drivers: only for commands that use the graph

    try:
        return open_store(settings().graph, read_only=read_only)
    except GraphError as error:
        fail(error)


def open_graph_to_read() -> GraphStore:
    """The graph for a command that only reads it: read-only where the embedded database exists already."""
    return open_graph(read_only=settings().graph.ladybug_path.exists())


def echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def load_frames(dataset: str, source: str | None) -> tuple[str, Any, Any, Any]:
    """(name, interactions, items, triples) from the graph ("graph") or from a source on disk: a path, or a
    dataset name under GRAPHREC_DATASETS_DIR."""
    from graphrec.ingest.sources import detect_source, read_source
    from graphrec.training.train_data import graph_frames

    if dataset == "graph":
        with open_graph_to_read() as store:
            return ("graph", *graph_frames(store))
    path = Path(dataset)
    if not path.exists():
        path = settings().ingest.datasets_dir / dataset
    if not path.exists():
        raise ValueError(f"no dataset {dataset!r}: not a path, and not in {settings().ingest.datasets_dir}")
    data = read_source(source or detect_source(path), path)
    return path.name, data.interactions, data.items, data.triples


def admin_headers(config: Settings) -> dict[str, str]:
    """The admin key's header for calls to the running service (GRAPHREC_API_KEY)."""
    return {"X-API-Key": config.keys.api_key.get_secret_value()} if config.keys.api_key else {}
