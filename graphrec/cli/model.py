"""Encoders and their artifact versions: `graphrec train`, `index`, `publish`, `evaluate`, `refresh`."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from graphrec.cli.common import admin_headers, fail, load_frames, open_graph_to_read, settings
from graphrec.graph.graph_errors import GraphError
from graphrec.ingest.errors import IngestError
from graphrec.settings import Settings
from graphrec.training.artifact_errors import ArtifactError
from graphrec.training.names import BLEND, Encoder, IndexKind, Model, Protocol

app = typer.Typer()
PANEL = "Model"


@app.command(rich_help_panel=PANEL)
def train(
    model: Annotated[Encoder, typer.Option(help="The encoder.")] = Encoder.lightgcn,
    epochs: Annotated[int | None, typer.Option(min=1, help="Upper bound on epochs (early stopping decides).")] = None,
    dim: Annotated[int | None, typer.Option(min=1, help="Embedding size.")] = None,
    refit: Annotated[bool, typer.Option(help="Refit on all data for the best epoch count (its holdout score is "
                                              "then optimistic, and refresh comparisons with it unfair).")] = False,
    seed: Annotated[int, typer.Option()] = 42,
    nproc: Annotated[int, typer.Option(min=1, help="Train with this many DistributedDataParallel processes "
                                                   "(torchrun; gloo on CPU, one GPU each with NCCL).")] = 1,
) -> None:
    """Train an encoder on the exported graph and write a new versioned artifact set (not yet published)."""
    from graphrec.training.pipeline import train_from_graph

    overrides = {k: v for k, v in (("epochs", epochs), ("dim", dim)) if v is not None}
    if nproc > 1:
        _train_distributed(model, overrides, refit, seed, nproc)
        return
    with open_graph_to_read() as store:
        try:
            folder = train_from_graph(store, settings().artifacts_dir, model, overrides, refit=refit, seed=seed,
                                      holdout=settings().training.holdout_fraction)  # the refresh's holdout too
        except (ArtifactError, GraphError, ValueError) as error:
            fail(error)
    typer.echo(f"wrote artifact version {folder.name} in {folder}")


def _train_distributed(model: Encoder, overrides: dict[str, int], refit: bool, seed: int, nproc: int) -> None:
    """Snapshot the graph (the processes cannot share the embedded database), then run training.torchrun in
    ``nproc`` processes under torchrun."""
    import subprocess
    import sys

    from graphrec.training.children import child_env
    from graphrec.training.snapshot import write_snapshot

    config = settings()
    with open_graph_to_read() as store:
        try:
            snapshot = write_snapshot(store, config.exports_dir)
        except GraphError as error:
            fail(error)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", "graphrec.training.torchrun", "--snapshot", str(snapshot), "--artifacts-dir",
               str(config.artifacts_dir), "--model", model.value, "--config", json.dumps(overrides), "--seed",
               str(seed), "--holdout", str(config.training.holdout_fraction), *(["--refit"] if refit else [])]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=child_env())
    if done.returncode:
        fail(RuntimeError(f"distributed training failed with exit code {done.returncode}: {' '.join(command)}"))
    folder = Path(done.stdout.strip().splitlines()[-1])
    typer.echo(f"wrote artifact version {folder.name} in {folder} ({nproc} processes)")


@app.command(rich_help_panel=PANEL)
def index(
    version: Annotated[str | None, typer.Option(help="Version to index (default: the newest).")] = None,
    kind: Annotated[IndexKind, typer.Option(help="auto: exact below 50,000 items, else IVF.")] = "auto",
) -> None:
    """Build the FAISS index of a version's item embeddings (GPU when faiss sees one)."""
    from graphrec.training.artifacts import newest_version, version_folder
    from graphrec.training.pipeline import index_version

    root = settings().artifacts_dir
    try:
        folder = version_folder(root, version) if version else newest_version(root)
        info = index_version(folder, kind)
    except (ArtifactError, ValueError) as error:
        fail(error)
    typer.echo(f"indexed {folder.name}: {info['kind']} over {info['items']:,} items x {info['dim']} in "
               f"{info['seconds']:.2f} s ({'GPU' if info['gpu'] else 'CPU'})")


@app.command(rich_help_panel=PANEL)
def publish(version: Annotated[str | None, typer.Option(help="Version (default: the newest).")] = None) -> None:
    """Make a version current, atomically; a partial or corrupt version is refused."""
    from graphrec.training.artifacts import newest_version, prune
    from graphrec.training.artifacts import publish as publish_version

    root = settings().artifacts_dir
    try:
        name = version or newest_version(root).name
        publish_version(root, name)
    except ArtifactError as error:
        fail(error)
    removed = prune(root, settings().training.artifact_versions_kept)
    typer.echo(f"published {name}" + (f"; removed {len(removed)} old versions" if removed else ""))


@app.command(rich_help_panel=PANEL)
def evaluate(
    dataset: Annotated[str, typer.Option(help="'graph' (the current graph), a folder or file, or a dataset name "
                                              "under GRAPHREC_DATASETS_DIR.")] = "graph",
    protocol: Annotated[Protocol, typer.Option(help="How the interactions are split (training.splits).")] = "ms",
    models: Annotated[str, typer.Option(help=f"Comma-separated, of {', '.join(Model)} and {BLEND}; or 'all'.")]
    = "all",
    out: Annotated[Path, typer.Option(help="Folder for results.md, results.json, results.png.")] = Path(
        "var/evaluation"),
    source: Annotated[str | None, typer.Option(help="Source layout of --dataset (default: detected).")] = None,
    stratify: Annotated[str, typer.Option(help="ms protocol: stratify the split per user or per item.")] = "user",
    seed: Annotated[int, typer.Option()] = 42,
    dump_recs: Annotated[bool, typer.Option(help="Also write recs_<model>.csv (user_id,item_id,rank).")] = False,
    quick: Annotated[bool, typer.Option(help="Only each model's default configuration, no search.")] = False,
) -> None:
    """Compare every model on one split: tuned on validation, scored once on test, beside published anchors."""
    from graphrec.training.evaluate import run

    chosen = [*Model, BLEND] if models == "all" else [m.strip() for m in models.split(",") if m.strip()]
    unknown = [name for name in chosen if name != BLEND and name not in set(Model)]
    if unknown:
        fail(ValueError(f"unknown models {', '.join(unknown)}; choose from {', '.join(Model)}, {BLEND}"))
    try:
        name, interactions, items, triples = load_frames(dataset, source)
        results = run(interactions, items, triples, dataset=name, protocol=protocol, models=chosen, out=out,
                      seed=seed, stratify=stratify, dump=dump_recs, quick=quick)
    except (IngestError, GraphError, ValueError) as error:
        fail(error)
    typer.echo((out / "results.md").read_text())
    typer.echo(f"{len(results)} models evaluated; tables and chart in {out}")


@app.command(rich_help_panel=PANEL)
def refresh(
    from_export: Annotated[Path | None, typer.Option(help="Train from this graph snapshot (written by the "
                                                          "service) instead of reading the graph.")] = None,
    model: Annotated[Encoder | None, typer.Option(help="Encoder (default: the current version's).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Upper bound on epochs.")] = None,
    force: Annotated[bool, typer.Option(help="Publish even if the new version scores worse.")] = False,
    warm: Annotated[bool, typer.Option(help="Start the users and items the current version knows from its "
                                            "weights (LightGCN, BPR-MF); --no-warm retrains from scratch.")] = True,
    timeout_s: Annotated[float, typer.Option(min=1, help="Longest to wait for a refresh the service runs.")]
    = 6 * 3600,
) -> None:
    """Retrain on the current graph, index, compare with the current version on the holdout, and publish the new
    version if it is not worse; running services then swap to it. While a service owns the embedded graph,
    the refresh is handed to that service (POST /v1/admin/refresh), which snapshots the graph for it."""
    from graphrec.serving.resources import graph_owner
    from graphrec.training.refresh import RefreshRunning, run_refresh
    from graphrec.training.snapshot import read_snapshot
    from graphrec.training.train_data import graph_frames

    config = settings()
    overrides = {"epochs": epochs} if epochs else None
    try:
        owner = graph_owner(config) if config.graph.graph_backend == "ladybug" else None
        export_started = time.perf_counter()
        if from_export is not None:
            frames = read_snapshot(from_export)
        elif owner is not None:
            typer.echo(f"the service at {owner['service_url']} (pid {owner['pid']}) owns the graph; "
                       "it runs the refresh")
            _refresh_through_service(config, owner["service_url"], model, epochs, force, warm, timeout_s)
            return
        else:
            with open_graph_to_read() as store:
                frames = graph_frames(store)
        report = run_refresh(config.artifacts_dir, config.training, frames, model=model, overrides=overrides,
                             force=force, warm=warm, export_seconds=time.perf_counter() - export_started)
    except (ArtifactError, GraphError, FileNotFoundError, ValueError, RefreshRunning) as error:
        fail(error)
    typer.echo(json.dumps(asdict(report), indent=2))
    if report.published and from_export is None:
        _ask_service_to_reload(config)


def _refresh_through_service(config: Settings, url: str, model: str | None, epochs: int | None, force: bool,
                             warm: bool, timeout_s: float) -> None:
    import httpx

    body = {"model": model, "epochs": epochs, "force": force, "warm": warm}
    deadline = time.monotonic() + timeout_s
    try:
        with httpx.Client(base_url=url, headers=admin_headers(config), timeout=30) as client:
            answer = client.post("/v1/admin/refresh", json=body)
            if answer.status_code != 202:
                fail(RuntimeError(f"the service refused the refresh: {answer.status_code} {answer.text}"))
            status = answer.json()
            while status["running"]:
                if time.monotonic() > deadline:
                    fail(TimeoutError(f"the refresh still runs after {timeout_s:.0f} s; it goes on in the service "
                                      f"(GET {url}/v1/admin/refresh, log {status['log']})"))
                time.sleep(2)
                status = client.get("/v1/admin/refresh").json()
    except httpx.HTTPError as error:
        fail(RuntimeError(f"no service answers at {url}: {error}"))
    typer.echo(json.dumps(status["last_report"], indent=2))
    if status["exit_code"]:
        fail(RuntimeError(f"the refresh job failed with exit code {status['exit_code']}; see {status['log']}"))


def _ask_service_to_reload(config: Settings) -> None:
    """Best effort: a running service also notices the new version by itself within GRAPHREC_RELOAD_POLL_S."""
    import httpx

    try:
        answer = httpx.post(f"{config.serving.service_url}/v1/admin/reload", headers=admin_headers(config), timeout=30)
        typer.echo(f"service at {config.serving.service_url}: {answer.status_code} {answer.text}")
    except httpx.HTTPError:
        typer.echo(f"no service at {config.serving.service_url}; running services pick the version up by themselves")
