"""The graphrec command line: one subcommand per task."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from graphrec.graph.explain import explain as explain_paths
from graphrec.graph.factory import open_store
from graphrec.graph.store import CandidateSource, GraphError, GraphStore
from graphrec.ingest.errors import IngestError
from graphrec.settings import Settings, get_settings

app = typer.Typer(help="graphrec: a graph-database-backed recommender.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def _settings() -> Settings:
    return get_settings()


def _fail(error: Exception) -> None:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _store(read_only: bool = False) -> GraphStore:
    try:
        return open_store(_settings().graph_config(), read_only=read_only)
    except GraphError as error:
        _fail(error)
        raise  # unreachable: _fail exits


def _echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="movielens | taobao | lastfm | msd | generic | synthetic")],
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
    from graphrec.ingest.sources import SOURCE_NAMES, read_source

    options: dict[str, Any] = {
        "synthetic": {"users": users, "items": items, "interactions": interactions, "seed": seed},
        "taobao": {"start": start, "end": end, "min_user_interactions": min_user_interactions,
                   "min_item_interactions": min_item_interactions},
        "msd": {"genres": genres},
    }.get(source, {})
    if source not in SOURCE_NAMES:
        _fail(ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCE_NAMES)}"))
    if source != "synthetic" and path is None:
        _fail(ValueError(f"{source} needs --path"))
    with _store() as store:
        try:
            report = run_ingest(store, lambda: read_source(source, path, **options), skip_bad=skip_bad,
                                rejects_dir=_settings().rejects_dir)
        except (IngestError, GraphError, ValueError) as error:
            _fail(error)
    typer.echo(report.summary())


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False) -> None:
    """Counts of users, items, interactions, events, entities by kind and relations by type."""
    with _store(read_only=_settings().ladybug_path.exists()) as store:
        figures = store.stats()
    if as_json:
        typer.echo(json.dumps(figures))
        return
    for key in ("users", "items", "interactions", "events"):
        typer.echo(f"{key:<14}{figures[key]:>12,}")
    for group, label in (("entities", "entity"), ("relations", "relation")):
        for name, n in sorted(figures[group].items()):
            typer.echo(f"{label} {name:<{25 - len(label)}}{n:>12,}")


@app.command()
def candidates(
    user: Annotated[str, typer.Option(help="User id as in the source data.")],
    hops: Annotated[int, typer.Option(help="Entity hops between items (1 or 2).")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    source: Annotated[str, typer.Option(help="kg or collab")] = "kg",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Candidate items for a user from graph paths, seen items removed."""
    with _store(read_only=True) as store:
        try:
            user_id = store.coerce_id(user, "user")
            chosen: CandidateSource = "collab" if source == "collab" else "kg"
            if source not in ("kg", "collab"):
                raise ValueError("--source must be kg or collab")
            found = store.candidates(user_id, source=chosen, hops=hops, limit=limit)
            titles = store.items().set_index("id")["title"]
        except (GraphError, ValueError) as error:
            _fail(error)
    rows = [{"item_id": item, "paths": int(paths), "title": titles.get(item)}
            for item, paths in zip(found["item_id"], found["paths"], strict=True)]
    if as_json:
        _echo_json(rows)
        return
    for rank, row in enumerate(rows, start=1):
        typer.echo(f"{rank:>3}. {row['item_id']!s:<12} {row['paths']:>6} paths  {row['title'] or ''}")


@app.command()
def explain(
    user: Annotated[str, typer.Option(help="User id.")],
    item: Annotated[str, typer.Option(help="Item id.")],
    k: Annotated[int, typer.Option(min=1, max=50, help="Most paths to show.")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The graph paths that connect a user to an item, as sentences."""
    with _store(read_only=True) as store:
        try:
            found = explain_paths(store, store.coerce_id(user, "user"), store.coerce_id(item, "item"), k)
        except (GraphError, ValueError) as error:
            _fail(error)
    if as_json:
        _echo_json([asdict(e) for e in found])
        return
    if not found:
        typer.echo(f"no path of length 1 or 3 connects user {user} to item {item}")
    for explanation in found:
        typer.echo(f"- {explanation.sentence}")


@app.command()
def export(out: Annotated[Path, typer.Option(help="Folder to write.")]) -> None:
    """Write the user-item and item-entity edges as id arrays and as re-ingestable CSV."""
    from graphrec.graph.export import export as run_export

    with _store(read_only=True) as store:
        counts = run_export(store, out)
    typer.echo(f"exported to {out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@app.command()
def evaluate(
    dataset: Annotated[str, typer.Option(help="'graph' (the current graph), a folder or file, or a dataset name "
                                              "under GRAPHREC_DATASETS_DIR.")] = "graph",
    protocol: Annotated[str, typer.Option(help="ms | recbole | temporal")] = "ms",
    models: Annotated[str, typer.Option(help="Comma-separated model names, or 'all'.")] = "all",
    out: Annotated[Path, typer.Option(help="Folder for results.md, results.json, results.png.")] = Path(
        "var/evaluation"),
    source: Annotated[str | None, typer.Option(help="Source layout of --dataset (default: detected).")] = None,
    stratify: Annotated[str, typer.Option(help="ms protocol: stratify the split per user or per item.")] = "user",
    seed: Annotated[int, typer.Option()] = 42,
    dump_recs: Annotated[bool, typer.Option(help="Also write recs_<model>.csv (user_id,item_id,rank).")] = False,
    quick: Annotated[bool, typer.Option(help="Only each model's default configuration, no search.")] = False,
) -> None:
    """Compare every model on one split: tuned on validation, scored once on test, beside published anchors."""
    import logging

    from graphrec.training.evaluate import BLEND, run
    from graphrec.training.models.registry import MODELS
    from graphrec.training.splits import PROTOCOLS

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if protocol not in PROTOCOLS:
        _fail(ValueError(f"--protocol must be one of {', '.join(PROTOCOLS)}"))
    chosen = [*MODELS, BLEND] if models == "all" else [m.strip() for m in models.split(",") if m.strip()]
    try:
        name, interactions, items, triples = _load_frames(dataset, source)
        results = run(interactions, items, triples, dataset=name, protocol=protocol, models=chosen,  # type: ignore[arg-type]
                      out=out, seed=seed, stratify=stratify, dump=dump_recs, quick=quick)
    except (IngestError, GraphError, ValueError) as error:
        _fail(error)
    typer.echo((out / "results.md").read_text())
    typer.echo(f"{len(results)} models evaluated; tables and chart in {out}")


def _load_frames(dataset: str, source: str | None) -> tuple[str, Any, Any, Any]:
    """(name, interactions, items, triples) from the graph or from a source on disk."""
    from graphrec.ingest.sources import detect_source, read_source
    from graphrec.training.data import graph_frames

    if dataset == "graph":
        with _store(read_only=_settings().ladybug_path.exists()) as store:
            return ("graph", *graph_frames(store))
    path = Path(dataset)
    if not path.exists():
        path = _settings().datasets_dir / dataset
    if not path.exists():
        raise ValueError(f"no dataset {dataset!r}: not a path, and not in {_settings().datasets_dir}")
    data = read_source(source or detect_source(path), path)
    return path.name, data.interactions, data.items, data.triples


@app.command()
def train(
    model: Annotated[str, typer.Option(help="lightgcn | graphsage | kgcn | bpr")] = "lightgcn",
    epochs: Annotated[int | None, typer.Option(help="Upper bound on epochs (early stopping decides).")] = None,
    dim: Annotated[int | None, typer.Option(help="Embedding size.")] = None,
    refit: Annotated[bool, typer.Option(help="Refit on all data for the best epoch count (its holdout score is "
                                              "then optimistic, and refresh comparisons with it unfair).")] = False,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Train an encoder on the exported graph and write a new versioned artifact set (not yet published)."""
    import logging

    from graphrec.training.artifacts import ArtifactError
    from graphrec.training.pipeline import train_from_graph

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    overrides = {k: v for k, v in (("epochs", epochs), ("dim", dim)) if v is not None}
    with _store(read_only=_settings().ladybug_path.exists()) as store:
        try:
            folder = train_from_graph(store, _settings().artifacts_dir, model, overrides, refit=refit, seed=seed,
                                      holdout=_settings().holdout_fraction)  # the refresh's holdout too
        except (ArtifactError, GraphError, ValueError) as error:
            _fail(error)
    typer.echo(f"wrote artifact version {folder.name} in {folder}")


@app.command()
def index(
    version: Annotated[str | None, typer.Option(help="Version to index (default: the newest).")] = None,
    kind: Annotated[str, typer.Option(help="auto | flat | ivf | hnsw")] = "auto",
) -> None:
    """Build the FAISS index of a version's item embeddings (GPU when faiss sees one)."""
    from graphrec.training.artifacts import ArtifactError, version_folder
    from graphrec.training.pipeline import index_version

    try:
        folder = version_folder(_settings().artifacts_dir, version) if version else _newest_version()
        info = index_version(folder, kind)  # type: ignore[arg-type]
    except (ArtifactError, ValueError) as error:
        _fail(error)
    typer.echo(f"indexed {folder.name}: {info['kind']} over {info['items']:,} items x {info['dim']} in "
               f"{info['seconds']:.2f} s ({'GPU' if info['gpu'] else 'CPU'})")


@app.command()
def publish(version: Annotated[str | None, typer.Option(help="Version (default: the newest).")] = None) -> None:
    """Make a version current, atomically; a partial or corrupt version is refused."""
    from graphrec.training.artifacts import ArtifactError
    from graphrec.training.artifacts import publish as run_publish

    try:
        name = version or _newest_version().name
        run_publish(_settings().artifacts_dir, name)
    except ArtifactError as error:
        _fail(error)
    typer.echo(f"published {name}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default GRAPHREC_SERVE_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GRAPHREC_SERVE_PORT, 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (Neo4j and an external Redis only).")] = 1,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Serve the API on the current published artifact version (it follows new versions as they are published)."""
    import uvicorn

    settings = _settings()
    if workers > 1 and settings.graph_backend == "ladybug":
        _fail(ValueError("the embedded LadybugDB admits one read-write process: serve with --workers 1 (threads "
                         "answer concurrent requests) or use the Neo4j backend"))
    if workers > 1 and settings.redis_url is None:
        _fail(ValueError("each worker would start its own embedded Redis: set REDIS_URL to share one"))
    host, port = host or settings.serve_host, port or settings.serve_port
    # The app reads its settings from the environment; this is how the refresh job finds this service.
    os.environ["GRAPHREC_SERVICE_URL"] = f"http://{host}:{port}"
    uvicorn.run("graphrec.service:create_app", factory=True, host=host, port=port, workers=workers, log_level=log_level)


@app.command()
def refresh(
    from_export: Annotated[Path | None, typer.Option(help="Train from this graph snapshot (written by the "
                                                          "service) instead of reading the graph.")] = None,
    model: Annotated[str | None, typer.Option(help="Encoder (default: the current version's).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Upper bound on epochs.")] = None,
    force: Annotated[bool, typer.Option(help="Publish even if the new version scores worse.")] = False,
) -> None:
    """Retrain on the current graph, index, compare with the current version on the holdout, and publish the new
    version if it is not worse; running services then swap to it. While a service owns the embedded graph,
    the refresh is handed to that service (POST /v1/admin/refresh), which snapshots the graph for it."""
    import logging

    from graphrec.serving.resources import graph_owner
    from graphrec.training.artifacts import ArtifactError
    from graphrec.training.data import graph_frames
    from graphrec.training.refresh import run_refresh
    from graphrec.training.snapshot import read_snapshot

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = _settings()
    overrides = {"epochs": epochs} if epochs else None
    try:
        owner = graph_owner(settings) if settings.graph_backend == "ladybug" else None
        if from_export is not None:
            frames = read_snapshot(from_export)
        elif owner is not None:
            typer.echo(f"the service at {owner['service_url']} (pid {owner['pid']}) owns the graph; "
                       "it runs the refresh")
            _refresh_through_service(settings, owner["service_url"], model, epochs, force)
            return
        else:
            with open_store(settings.graph_config(), read_only=settings.ladybug_path.exists()) as store:
                frames = graph_frames(store)
        report = run_refresh(settings.refresh_config(), frames, model=model, overrides=overrides, force=force)
    except (ArtifactError, GraphError, FileNotFoundError, ValueError) as error:
        _fail(error)
    typer.echo(json.dumps(asdict(report), indent=2))
    if report.published and from_export is None:
        _ask_service_to_reload(settings)


def _admin_headers(settings: Settings) -> dict[str, str]:
    return {"X-API-Key": settings.api_key.get_secret_value()} if settings.api_key else {}


def _refresh_through_service(settings: Settings, url: str, model: str | None, epochs: int | None,
                             force: bool) -> None:
    import time

    import httpx

    body = {"model": model, "epochs": epochs, "force": force}
    try:
        with httpx.Client(base_url=url, headers=_admin_headers(settings), timeout=30) as client:
            answer = client.post("/v1/admin/refresh", json=body)
            if answer.status_code != 202:
                _fail(RuntimeError(f"the service refused the refresh: {answer.status_code} {answer.text}"))
            status = answer.json()
            while status["running"]:
                time.sleep(2)
                status = client.get("/v1/admin/refresh").json()
    except httpx.HTTPError as error:
        _fail(RuntimeError(f"no service answers at {url}: {error}"))
    typer.echo(json.dumps(status["last_report"], indent=2))
    if status["exit_code"]:
        _fail(RuntimeError(f"the refresh job failed with exit code {status['exit_code']}; see {status['log']}"))


def _ask_service_to_reload(settings: Settings) -> None:
    """Best effort: a running service also notices the new version by itself within GRAPHREC_RELOAD_POLL_S."""
    import httpx

    try:
        answer = httpx.post(f"{settings.service_url}/v1/admin/reload", headers=_admin_headers(settings), timeout=30)
        typer.echo(f"service at {settings.service_url}: {answer.status_code} {answer.text}")
    except httpx.HTTPError:
        typer.echo(f"no service at {settings.service_url}; running services pick the version up by themselves")


def _newest_version() -> Path:
    from graphrec.training.artifacts import newest_version

    return newest_version(_settings().artifacts_dir)


@app.command()
def doctor() -> None:
    """Installed versions, reachable backends, GPU or not."""
    from graphrec.doctor import diagnose

    healthy = True
    for check in diagnose(_settings()):
        mark = "ok  " if check.ok else "FAIL" if check.required else "--  "
        healthy &= check.ok or not check.required
        typer.echo(f"[{mark}] {check.name:<22} {check.detail}")
    if not healthy:
        raise typer.Exit(code=1)


@app.command()
def demo(
    source: Annotated[str, typer.Option(help="synthetic, or a source name used with --path")] = "synthetic",
    path: Annotated[Path | None, typer.Option()] = None,
    user: Annotated[str | None, typer.Option(help="Sample user (default: one of median activity).")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs for the demo's LightGCN (0: skip training).")] = 40,
    serve_after: Annotated[bool, typer.Option("--serve", help="Then serve the API on localhost.")] = False,
) -> None:
    """The main job of `make run`: build a dataset into the graph, show stats, candidates and a path, then
    train an encoder, index its item embeddings, publish the artifact set and (--serve) serve the API."""
    ingest(source, path=path) if source != "synthetic" else ingest(
        "synthetic", users=2_000, items=1_500, interactions=100_000, seed=42)
    stats()
    with _store(read_only=True) as store:
        history = store.interactions()
        activity = history["user_id"].value_counts(sort=True)
        sample = user if user is not None else str(activity.index[len(activity) // 2])
    typer.echo(f"\nKG candidates for user {sample}:")
    candidates(user=sample, limit=5)
    typer.echo(f"\nCollaborative candidates for user {sample}:")
    candidates(user=sample, limit=5, source="collab")
    with _store(read_only=True) as store:
        top = store.candidates(store.coerce_id(sample, "user"), limit=1)
    if len(top):
        typer.echo(f"\nWhy item {top['item_id'].iloc[0]} for user {sample}:")
        explain(user=sample, item=str(top["item_id"].iloc[0]))
    if epochs > 0:
        typer.echo(f"\nTraining LightGCN ({epochs} epochs at most), indexing, publishing:")
        train(model="lightgcn", epochs=epochs, dim=None, refit=False, seed=42)
        index(version=None, kind="auto")
        publish(version=None)
        _show_embedding_recommendations(sample)
    if serve_after:
        with _store(read_only=True) as store:
            item = store.popular(limit=1)["item_id"].iloc[0]
        _print_curl_examples(sample, item)
        serve(host=None, port=None, workers=1, log_level="warning")


def _print_curl_examples(user: str, item: object) -> None:
    settings = _settings()
    url = f"http://{settings.serve_host}:{settings.serve_port}"
    json_header = "-H 'Content-Type: application/json'"
    item = item.item() if hasattr(item, "item") else item  # a NumPy scalar from the graph
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
""")


def _show_embedding_recommendations(user: str) -> None:
    """Top items for ``user`` from the published embeddings and FAISS index, seen items removed."""
    import numpy as np

    from graphrec.training.artifacts import ArtifactVersion, version_folder
    from graphrec.training.data import Catalogue
    from graphrec.training.index import load_index, search

    folder = version_folder(_settings().artifacts_dir)
    catalogue = Catalogue.load(folder)
    with _store(read_only=True) as store:
        user_id = store.coerce_id(user, "user")
        seen = set(store.history(user_id, limit=100_000)["item_id"])
        titles = store.items().set_index("id")["title"]
    version = ArtifactVersion(folder)
    vector = np.load(version.user_embeddings)[catalogue.user_index([user_id])]
    _, found = search(load_index(version.index), vector, 5 + len(seen))
    fresh = [catalogue.item_ids[i] for i in found[0] if i >= 0 and catalogue.item_ids[i] not in seen][:5]
    typer.echo(f"\nEmbedding (FAISS) recommendations for user {user} from version {folder.name}:")
    for rank, item in enumerate(fresh, start=1):
        typer.echo(f"{rank:>3}. {item!s:<12} {titles.get(item) or ''}")


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])


@app.command("train-policy")
def train_policy(
    policy: Annotated[str, typer.Option(help="drr | ppo | kgdqn (rank the catalogue); linucb | thompson (CTR "
                                             "simulator bandits)")] = "ppo",
    env: Annotated[str, typer.Option(help="logreplay (the graph's interactions against an artifact version) | gan "
                                          "(sessions simulated by a GAN user model trained on them) | ctr")]
    = "logreplay",
    version: Annotated[str | None, typer.Option(help="Artifact version (default: the published one, else the "
                                                     "newest).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    iterations: Annotated[int | None, typer.Option(min=1, help="Training iterations (default: the policy's).")]
    = None,
    users: Annotated[int, typer.Option(min=10, help="ctr: simulated users.")] = 2000,
    publish_new: Annotated[bool, typer.Option("--publish/--no-publish", help="Publish the new version when the "
                                              "one it derives from is the published one.")] = True,
) -> None:
    """Train an RL policy. logreplay, gan: a new artifact version adds its checkpoint to the one it was trained
    on, and is published when that one was; running services swap to it and serve the policy (GRAPHREC_POLICY).
    ctr: a bandit learns online in the simulator and its CTR is printed."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if env == "ctr":
        from graphrec.training.rl.ctr_bench import POLICIES, run_ctr
        from graphrec.training.rl.ctr_env import CTRConfig

        if policy not in POLICIES:
            _fail(ValueError(f"--env ctr trains a bandit: --policy must be one of {', '.join(POLICIES)}"))
        ctr = run_ctr(policy, CTRConfig(), users, seed)
        typer.echo(f"{policy} in the CTR simulator: CTR {ctr:.4f} over {users:,} users (seed {seed})")
        return
    if env not in ("logreplay", "gan"):
        _fail(ValueError(f"--env {env!r}: choose logreplay, gan or ctr"))
    from graphrec.training.artifacts import ArtifactError, current_version, version_folder
    from graphrec.training.artifacts import publish as publish_version
    from graphrec.training.data import graph_frames
    from graphrec.training.rl.deploy import train_policy_for_version

    root = _settings().artifacts_dir
    try:
        folder = version_folder(root, version)
        with _store(read_only=_settings().ladybug_path.exists()) as store:
            interactions, _, triples = graph_frames(store)
        overrides = {"iterations": iterations} if iterations else {}
        derived, record = train_policy_for_version(folder, interactions, triples, policy, seed, overrides, env)
        published = publish_new and current_version(root) == folder.name
        if published:
            publish_version(root, derived.name)
    except (ArtifactError, GraphError, ValueError) as error:
        _fail(error)
    typer.echo(f"{policy} trained in {record['seconds']:.0f} s ({env}) on {record['training_users']:,} users; on "
               f"{record['evaluation_users']:,} held-out users: return {record['evaluation_return']:.3f} (greedy "
               f"{record['greedy_evaluation_return']:.3f}), NDCG@10 {record['ndcg_at_10']:.4f} (greedy "
               f"{record['greedy_ndcg_at_10']:.4f}). New version {derived.name} (from {folder.name}) holds the "
               f"checkpoint{'; published' if published else ''}.")


@app.command("evaluate-policy")
def evaluate_policy(
    dataset: Annotated[str, typer.Option(help="'graph', a folder or file, or a dataset name under "
                                              "GRAPHREC_DATASETS_DIR.")] = "graph",
    policies: Annotated[str, typer.Option(help="Comma-separated: greedy, drr, ppo, kgdqn (logreplay); linucb, "
                                               "thompson, popularity, random (ctr).")] = "greedy,drr,ppo,kgdqn",
    env: Annotated[str, typer.Option(help="logreplay | gan (a GAN user model, trained first, answers the slates) "
                                          "| ctr")] = "logreplay",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (at least 3 for a confidence interval).")]
    = "1,2,3",
    out: Annotated[Path, typer.Option(help="Folder for results.md, results.json, learning_curve.png.")] = Path(
        "var/policies"),
    source: Annotated[str | None, typer.Option(help="Source layout of --dataset (default: detected).")] = None,
) -> None:
    """Policies against greedy over seeds, each seed with its own encoder, split fixed; a table with 95% CIs."""
    import logging

    from graphrec.training.rl.evaluate import ctr_results, evaluate_logreplay, write_results

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    names = [p.strip() for p in policies.split(",") if p.strip()]
    try:
        if env == "ctr":
            write_results(ctr_results(names, seed_list), None, out, f"CTR simulator, {len(seed_list)} seeds")
        elif env in ("logreplay", "gan"):
            name, interactions, items, triples = _load_frames(dataset, source)
            user_model = None
            if env == "gan":
                from graphrec.training.rl.gan_env import fit_user_model

                user_model = fit_user_model(interactions, items, triples)
            evaluate_logreplay(interactions, items, triples, names, seed_list, out, dataset=name,
                               user_model=user_model)
        else:
            raise ValueError(f"--env {env!r}: choose logreplay, gan or ctr")
    except (IngestError, GraphError, ValueError, KeyError) as error:
        _fail(error)
    typer.echo((out / "results.md").read_text())
