"""Data in and out of the graph: `graphrec ingest`, `graphrec export`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from graphrec.cli.common import admin_headers, fail, open_graph, settings
from graphrec.graph.graph_errors import GraphError
from graphrec.ingest.errors import IngestError
from graphrec.ingest.source_names import SourceName

app = typer.Typer()
PANEL = "Data"


@app.command(rich_help_panel=PANEL)
def ingest(
    source: Annotated[SourceName, typer.Argument(help="The source's layout.")],
    path: Annotated[Path | None, typer.Option(help="Folder or file of the source (not for synthetic).")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Load the good rows; write the bad ones to a reject file.")] = False,
    users: Annotated[int, typer.Option(help="synthetic: number of users")] = 1_000,
    items: Annotated[int, typer.Option(help="synthetic: number of items")] = 800,
    interactions: Annotated[int, typer.Option(help="synthetic: number of interactions")] = 50_000,
    seed: Annotated[int, typer.Option(help="synthetic: random seed")] = 42,
    start: Annotated[datetime | None, typer.Option(help="taobao: first day kept (UTC)")] = None,
    end: Annotated[datetime | None, typer.Option(help="taobao: first day no longer kept (UTC)")] = None,
    min_user_interactions: Annotated[int, typer.Option(help="taobao: drop users with fewer events")] = 0,
    min_item_interactions: Annotated[int, typer.Option(help="taobao: drop items with fewer events")] = 0,
    genres: Annotated[str | None, typer.Option(help="msd: genre file (song_id<TAB>genre) beside the triplets")] = None,
) -> None:
    """Load a dataset into the graph. Re-running the same input changes nothing."""
    from graphrec.ingest.loader import ingest as run_ingest
    from graphrec.ingest.sources import read_source

    options: dict[str, Any] = {
        "synthetic": {"users": users, "items": items, "interactions": interactions, "seed": seed},
        "taobao": {"start": start, "end": end, "min_user_interactions": min_user_interactions,
                   "min_item_interactions": min_item_interactions},
        "msd": {"genres": genres},
    }.get(source, {})
    if source != "synthetic" and path is None:
        fail(ValueError(f"{source} needs --path"))
    with open_graph() as store:
        try:
            report = run_ingest(store, lambda: read_source(source, path, **options), skip_bad=skip_bad,
                                rejects_dir=settings().rejects_dir)
        except (IngestError, GraphError, ValueError) as error:
            fail(error)
    typer.echo(report.summary())


@app.command(rich_help_panel=PANEL)
def export(out: Annotated[Path, typer.Option(help="Folder to write.")]) -> None:
    """Write the user-item and item-entity edges as id arrays and as re-ingestable CSV."""
    from graphrec.graph.export import export as run_export

    with open_graph(read_only=True) as store:
        counts = run_export(store, out)
    typer.echo(f"exported to {out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@app.command(rich_help_panel=PANEL)
def replay_dead_letters(
    limit: Annotated[int, typer.Option(min=1, help="Most events to move back.")] = 10_000,
    dry_run: Annotated[bool, typer.Option(help="Only list the oldest dead-lettered events.")] = False,
) -> None:
    """Move feedback events the graph refused back onto the feedback stream, through the running service
    (GRAPHREC_SERVICE_URL, with GRAPHREC_API_KEY): its writer applies them again."""
    import httpx

    config = settings()
    try:
        with httpx.Client(base_url=config.serving.service_url, headers=admin_headers(config), timeout=60) as client:
            answer = client.get("/v1/admin/dead-letters", params={"limit": min(limit, 1_000)}) if dry_run else \
                client.post("/v1/admin/dead-letters/replay", params={"limit": limit})
    except httpx.HTTPError as error:
        fail(ConnectionError(f"no service at {config.serving.service_url} ({error}); set GRAPHREC_SERVICE_URL"))
    if answer.status_code != 200:
        fail(RuntimeError(f"the service answered {answer.status_code}: {answer.text}"))
    typer.echo(json.dumps(answer.json(), indent=2))
