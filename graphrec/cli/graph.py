"""Reading the graph: `graphrec stats`, `graphrec candidates`, `graphrec explain`."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from graphrec.cli.common import echo_json, fail, open_graph, open_graph_to_read
from graphrec.graph.graph_errors import CandidateSource, GraphError

app = typer.Typer()
PANEL = "Graph"


@app.command(rich_help_panel=PANEL)
def stats(as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False) -> None:
    """Counts of users, items, interactions, events, entities by kind and relations by type."""
    with open_graph_to_read() as store:
        figures = store.stats()
    if as_json:
        typer.echo(json.dumps(figures))
        return
    for key in ("users", "items", "interactions", "events"):
        typer.echo(f"{key:<14}{figures[key]:>12,}")
    for group, label in (("entities", "entity"), ("relations", "relation")):
        for name, n in sorted(figures[group].items()):
            typer.echo(f"{label} {name:<{25 - len(label)}}{n:>12,}")


@app.command(rich_help_panel=PANEL)
def candidates(
    user: Annotated[str, typer.Option(help="User id as in the source data.")],
    hops: Annotated[int, typer.Option(min=1, max=2, help="Entity hops between items.")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    source: Annotated[CandidateSource, typer.Option(help="Through KG entities, or through co-interacting users.")]
    = "kg",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Candidate items for a user from graph paths, seen items removed."""
    with open_graph(read_only=True) as store:
        try:
            found = store.candidates(store.coerce_id(user, "user"), source=source, hops=hops, limit=limit)
            titles = store.items().set_index("id")["title"]
        except (GraphError, ValueError) as error:
            fail(error)
    rows = [{"item_id": item, "paths": int(paths), "title": titles.get(item)}
            for item, paths in zip(found["item_id"], found["paths"], strict=True)]
    if as_json:
        echo_json(rows)
        return
    for rank, row in enumerate(rows, start=1):
        typer.echo(f"{rank:>3}. {row['item_id']!s:<12} {row['paths']:>6} paths  {row['title'] or ''}")


@app.command(rich_help_panel=PANEL)
def explain(
    user: Annotated[str, typer.Option(help="User id.")],
    item: Annotated[str, typer.Option(help="Item id.")],
    k: Annotated[int, typer.Option(min=1, max=50, help="Most paths to show.")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The graph paths that connect a user to an item, as sentences."""
    with open_graph(read_only=True) as store:
        try:
            from graphrec.graph.explain import explain as explain_paths

            found = explain_paths(store, store.coerce_id(user, "user"), store.coerce_id(item, "item"), k)
        except (GraphError, ValueError) as error:
            fail(error)
    if as_json:
        echo_json([asdict(e) for e in found])
        return
    if not found:
        typer.echo(f"no path of length 1 or 3 connects user {user} to item {item}")
    for explanation in found:
        typer.echo(f"- {explanation.sentence}")
