"""Running graphrec: `graphrec serve`, `graphrec settings`, `graphrec doctor`, and `graphrec demo` (the main job of
`make run`)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from graphrec.cli.common import fail, open_graph, settings
from graphrec.cli.data import ingest
from graphrec.cli.graph import candidates, explain, stats
from graphrec.cli.model import index, publish, train
from graphrec.ingest.source_names import SourceName

app = typer.Typer()
PANEL = "Service"


@app.command(rich_help_panel=PANEL)
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default GRAPHREC_SERVE_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GRAPHREC_SERVE_PORT, 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (Neo4j and an external Redis only).")] = 1,
    log_level: Annotated[Literal["critical", "error", "warning", "info", "debug"], typer.Option(
        help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the API on the current published artifact version (it follows new versions as they are published)."""
    import uvicorn

    config = settings()
    if workers > 1 and config.graph.graph_backend == "ladybug":
        fail(ValueError("the embedded LadybugDB admits one read-write process: serve with --workers 1 (threads "
                        "answer concurrent requests) or use the Neo4j backend"))
    if workers > 1 and config.serving.redis_url is None:
        fail(ValueError("each worker would start its own embedded Redis: set REDIS_URL to share one"))
    from graphrec.serving.resources import ServiceConflict, ensure_sole_owner

    try:
        ensure_sole_owner(config)
    except ServiceConflict as error:
        fail(error)
    host, port = host or config.serving.serve_host, port or config.serving.serve_port
    if config.keys.key_ring().open and not is_loopback(host) and not config.keys.allow_open_bind:
        fail(ValueError(f"no API keys are configured, so the service would be open to every client that reaches "
                        f"{host}: set GRAPHREC_API_KEY or GRAPHREC_API_KEYS (`graphrec new-key`), serve on "
                        f"127.0.0.1, or set GRAPHREC_ALLOW_OPEN_BIND=true"))
    # The app reads its settings from the environment; this is how the refresh job finds this service.
    os.environ["GRAPHREC_SERVICE_URL"] = f"http://{host}:{port}"
    logging.getLogger("graphrec.access").setLevel(log_level.upper())
    uvicorn.run("graphrec.asgi:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)  # the app's own, sampled (GRAPHREC_ACCESS_LOG_EVERY)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command(rich_help_panel=PANEL)
def new_key(
    name: Annotated[str, typer.Option(help="Who holds the key (metrics and logs name it).")],
    scope: Annotated[list[str], typer.Option(help="recommend, feedback, ingest, history or admin; repeat for "
                                                  "several.")],
    rate_limit: Annotated[str | None, typer.Option(help="This key's request rate, e.g. 50/second (default "
                                                        "GRAPHREC_RATE_LIMIT).")] = None,
) -> None:
    """Make a client API key: prints the key (give it to the client; it is not kept) and its entry for the
    GRAPHREC_API_KEYS list (only its SHA-256 is kept)."""
    from pydantic import ValidationError

    from graphrec.serving.access.keys import Scope
    from graphrec.serving.access.keys import new_key as make_key

    try:
        key, entry = make_key(name, {Scope(value) for value in scope}, rate_limit)
    except (ValueError, ValidationError) as error:
        fail(ValueError(f"--name/--scope/--rate-limit: {error}"))
    typer.echo(f"key (shown once): {key}")
    typer.echo("GRAPHREC_API_KEYS entry: " + entry.model_dump_json(exclude_none=True))


@app.command("settings", rich_help_panel=PANEL)
def settings_reference(
    markdown: Annotated[bool, typer.Option("--markdown", help="The reference table (docs/settings.md).")] = False,
    env: Annotated[bool, typer.Option("--env", help="Every variable at its default (.env.example).")] = False,
) -> None:
    """The settings in effect (secrets hidden), or every variable with its default and meaning."""
    from graphrec.settings import env_example, reference_markdown

    if markdown or env:
        typer.echo(reference_markdown() if markdown else env_example(), nl=False)
        return
    typer.echo(settings().model_dump_json(indent=2))


@app.command(rich_help_panel=PANEL)
def doctor() -> None:
    """Installed versions, reachable backends, GPU or not."""
    from graphrec.doctor import diagnose

    healthy = True
    for check in diagnose(settings()):
        mark = "ok  " if check.ok else "FAIL" if check.required else "--  "
        healthy &= check.ok or not check.required
        typer.echo(f"[{mark}] {check.name:<22} {check.detail}")
    if not healthy:
        raise typer.Exit(code=1)


@app.command(rich_help_panel=PANEL)
def demo(
    source: Annotated[SourceName, typer.Option(help="synthetic, or a source's layout, with --path.")] = "synthetic",
    path: Annotated[Path | None, typer.Option()] = None,
    user: Annotated[str | None, typer.Option(help="Sample user (default: one of median activity).")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs for the demo's LightGCN (0: skip training).")] = 40,
    serve_after: Annotated[bool, typer.Option("--serve", help="Then serve the API on localhost.")] = False,
) -> None:
    """The main job of `make run`: build a dataset into the graph, show stats, candidates and a path, then
    train an encoder, index its item embeddings, publish the artifact set and (--serve) serve the API."""
    from graphrec.training.names import Encoder

    if source == "synthetic":
        ingest("synthetic", users=2_000, items=1_500, interactions=100_000, seed=42)
    else:
        ingest(source, path=path)
    stats()
    with open_graph(read_only=True) as store:
        activity = store.interactions()["user_id"].value_counts(sort=True)
        sample = user if user is not None else str(activity.index[len(activity) // 2])
    typer.echo(f"\nKG candidates for user {sample}:")
    candidates(user=sample, limit=5)
    typer.echo(f"\nCollaborative candidates for user {sample}:")
    candidates(user=sample, limit=5, source="collab")
    with open_graph(read_only=True) as store:
        top = store.candidates(store.coerce_id(sample, "user"), limit=1)
    if len(top):
        typer.echo(f"\nWhy item {top['item_id'].iloc[0]} for user {sample}:")
        explain(user=sample, item=str(top["item_id"].iloc[0]))
    if epochs > 0:
        typer.echo(f"\nTraining LightGCN ({epochs} epochs at most), indexing, publishing:")
        train(model=Encoder.lightgcn, epochs=epochs, dim=None, refit=False, seed=42)
        index(version=None, kind="auto")
        publish(version=None)
        _show_embedding_recommendations(sample)
    if serve_after:
        with open_graph(read_only=True) as store:
            item = store.popular(limit=1)["item_id"].iloc[0]
        _print_curl_examples(sample, item)
        serve(host=None, port=None, workers=1, log_level="warning")


def _print_curl_examples(user: str, item: object) -> None:
    config = settings()
    url = f"http://{config.serving.serve_host}:{config.serving.serve_port}"
    json_header = "-H 'Content-Type: application/json'"
    from graphrec.graph.ids import plain_id

    item = plain_id(item)  # a NumPy scalar from the graph
    recommend = json.dumps({"user_id": user, "k": 5, "explain": True})
    feedback = json.dumps({"session_id": "demo", "user_id": user, "item_id": item, "event": "click"})
    typer.echo(f"""
Serving on {url} (Ctrl+C to stop). OpenAPI docs: {url}/docs. Try:
  curl -s -X POST {url}/v1/recommend {json_header} -d '{recommend}'
  curl -s -X POST {url}/v1/feedback {json_header} -d '{feedback}'
  curl -s '{url}/v1/explain?user_id={user}&item_id={item}'
  curl -s {url}/v1/users/{user}/history
  curl -s {url}/readyz
  curl -s {url}/metrics | grep graphrec_

The console (recommendations, why, feedback, compare, operations): {url}/?user={user}
""")


def _show_embedding_recommendations(user: str) -> None:
    """Top items for ``user`` from the published embeddings and FAISS index, seen items removed, as the
    service's FAISS candidates are (serving.request.served_version)."""
    from graphrec.serving.request.served_version import load_current

    artifacts = load_current(settings().artifacts_dir)
    with open_graph(read_only=True) as store:
        user_id = store.coerce_id(user, "user")
        seen = set(store.history(user_id, limit=100_000)["item_id"])
        titles = store.items().set_index("id")["title"]
    vector = artifacts.user_vector(user_id)
    found = [] if vector is None else artifacts.neighbours(vector, 5, seen)
    typer.echo(f"\nEmbedding (FAISS) recommendations for user {user} from version {artifacts.version}:")
    for rank, item in enumerate(found, start=1):
        typer.echo(f"{rank:>3}. {item!s:<12} {titles.get(item) or ''}")
