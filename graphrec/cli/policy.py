"""RL policies: `graphrec train-policy`, `graphrec evaluate-policy`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from graphrec.cli.common import fail, load_frames, open_graph_to_read, settings
from graphrec.graph.graph_errors import GraphError
from graphrec.ingest.errors import IngestError
from graphrec.training.artifact_errors import ArtifactError
from graphrec.training.names import REPLAY_POLICIES, SIMULATORS, Bandit, PolicyEnv, RankingPolicy, SimPolicy

app = typer.Typer()
PANEL = "Policy"


@app.command("train-policy", rich_help_panel=PANEL)
def train_policy(
    policy: Annotated[str, typer.Option(help=f"{', '.join(RankingPolicy)} (rank the catalogue; logreplay, gan); "
                                             f"{', '.join(Bandit)} (ctr)")] = RankingPolicy.ppo,
    env: Annotated[PolicyEnv, typer.Option(help="logreplay: the graph's interactions against an artifact version; "
                                                "gan: sessions simulated by a GAN user model trained on them; ctr: "
                                                "the CTR simulator; sardine-*, recsim-*: a reactive simulator "
                                                f"({', '.join(SimPolicy)}).")] = PolicyEnv.logreplay,
    version: Annotated[str | None, typer.Option(help="Artifact version (default: the published one, else the "
                                                     "newest).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    iterations: Annotated[int | None, typer.Option(min=1, help="Training iterations (default: the policy's).")]
    = None,
    users: Annotated[int | None, typer.Option(min=10, help="ctr: simulated users (default 2,000); a reactive "
                                                           "simulator: held-out users (default 500).")] = None,
    steps: Annotated[int, typer.Option(min=1, help="A reactive simulator: environment steps of training.")]
    = 120_000,
    knobs: Annotated[list[str] | None, typer.Option("--set", help="name=value: a knob of the policy's typed "
                                                    "config (training/rl/<policy>.py documents each), repeatable: "
                                                    "--set gamma=0.8 --set lr=1e-4.")] = None,
    out: Annotated[Path, typer.Option(help="A reactive simulator: folder of the checkpoint and its record.")]
    = Path("var/policies/simulators"),
    publish_new: Annotated[bool, typer.Option("--publish/--no-publish", help="Publish the new version when the "
                                              "one it derives from is the published one.")] = True,
) -> None:
    """Train an RL policy. logreplay, gan: a new artifact version adds its checkpoint to the one it was trained
    on, and is published when that one was; running services swap to it and serve the policy (GRAPHREC_POLICY).
    ctr: a bandit learns online in the simulator and its CTR is printed. A reactive simulator: the checkpoint and its
    record (every training metric by name) land in --out, and the record is added to a new artifact version when
    there is one, for the console's training-metrics view (such a policy ranks the simulator's items, so the
    service never serves it)."""
    if env in SIMULATORS:
        train_in_simulator(env, policy, seed, knobs or [], steps, users or 500, out, version, publish_new)
        return
    if env == PolicyEnv.ctr:
        from graphrec.training.rl.ctr_bench import run_ctr
        from graphrec.training.rl.ctr_env import CTRConfig

        if policy not in set(Bandit):
            fail(ValueError(f"--env ctr trains a bandit: --policy must be one of {', '.join(Bandit)}"))
        if knobs:
            fail(ValueError("--set sets an RL policy's knobs; the CTR simulator's bandits have none"))
        users = users or 2000
        ctr = float(run_ctr(policy, CTRConfig(), users, seed).mean()) / CTRConfig().steps_per_user
        typer.echo(f"{policy} in the CTR simulator: CTR {ctr:.4f} over {users:,} users (seed {seed})")
        return
    if policy not in set(RankingPolicy):
        fail(ValueError(f"--policy {policy!r} does not rank the catalogue; choose one of {', '.join(RankingPolicy)}"))
    from graphrec.training.artifacts import current_version, prune, version_folder
    from graphrec.training.artifacts import publish as publish_version
    from graphrec.training.rl.train_for_version import train_policy_for_version
    from graphrec.training.train_data import graph_frames

    root = settings().artifacts_dir
    try:
        folder = version_folder(root, version)
        with open_graph_to_read() as store:
            interactions, _, triples = graph_frames(store)
        from graphrec.training.rl.policy_configs import parse_overrides

        overrides = {**({"iterations": iterations} if iterations else {}), **parse_overrides(policy, knobs or [])}
        derived, record = train_policy_for_version(folder, interactions, triples, policy, seed, overrides, env)
        published = publish_new and current_version(root) == folder.name
        if published:
            publish_version(root, derived.name)
            prune(root, settings().training.artifact_versions_kept)
    except (ArtifactError, GraphError, ValueError) as error:
        fail(error)
    typer.echo(f"{policy} trained in {record['seconds']:.0f} s ({env}) on {record['training_users']:,} users; on "
               f"{record['evaluation_users']:,} held-out users: return {record['evaluation_return']:.3f} (greedy "
               f"{record['greedy_evaluation_return']:.3f}), NDCG@10 {record['ndcg_at_10']:.4f} (greedy "
               f"{record['greedy_ndcg_at_10']:.4f}). New version {derived.name} (from {folder.name}) holds the "
               f"checkpoint{'; published' if published else ''}.")
    import json

    from graphrec.training.artifacts import ArtifactVersion
    from graphrec.training.rl.choice import choose_served

    chosen, why = choose_served(json.loads(ArtifactVersion(derived).policy_records.read_text()))
    typer.echo(f"GRAPHREC_POLICY=auto serves {chosen} with this version: {why}.")


def train_in_simulator(env: str, policy: str, seed: int, knobs: list[str], steps: int, held_out: int, out: Path,
                       version: str | None, publish_new: bool) -> None:
    import json

    from graphrec.training.artifacts import current_version, prune, version_folder
    from graphrec.training.artifacts import publish as publish_version
    from graphrec.training.rl.policy_configs import parse_overrides
    from graphrec.training.rl.sim.checkpoints import record_name, train_simulator_checkpoint
    from graphrec.training.rl.train_for_version import add_checkpoints

    if policy not in set(SimPolicy):
        fail(ValueError(f"--env {env} trains {', '.join(SimPolicy)}; got --policy {policy!r}"))
    try:
        path, record = train_simulator_checkpoint(env, policy, seed, parse_overrides(policy, knobs), steps, held_out,
                                                  out)
    except ValueError as error:
        fail(error)
    path.with_suffix(".json").write_text(json.dumps(record, indent=2, default=float))
    typer.echo(f"{policy} trained in {env} for {steps:,} steps in {record['seconds']:.0f} s (best at step "
               f"{record['best_step']:,}); on {held_out} held-out users: return {record['simulator_return']:.2f} "
               f"(greedy {record['greedy_simulator_return']:.2f}). Checkpoint {path}, record "
               f"{path.with_suffix('.json')}.")
    root = settings().artifacts_dir
    try:
        folder = version_folder(root, version)
    except ArtifactError:
        typer.echo("No artifact version here: the record is not added to one (the console shows a version's).")
        return
    name = record_name(policy, env)
    derived = add_checkpoints(folder, {name: (None, record)}, name)
    if publish_new and current_version(root) == folder.name:
        publish_version(root, derived.name)
        prune(root, settings().training.artifact_versions_kept)
    typer.echo(f"Version {derived.name} (from {folder.name}) holds the record as {name}.")


@app.command("evaluate-policy", rich_help_panel=PANEL)
def evaluate_policy(
    dataset: Annotated[str, typer.Option(help="'graph', a folder or file, or a dataset name under "
                                              "GRAPHREC_DATASETS_DIR.")] = "graph",
    policies: Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(REPLAY_POLICIES)} (logreplay, gan); "
                                               f"{', '.join(Bandit)} (ctr).")] = ",".join(REPLAY_POLICIES),
    env: Annotated[PolicyEnv, typer.Option(help="logreplay | gan (a GAN user model, trained first, answers the "
                                                "slates) | ctr")] = PolicyEnv.logreplay,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (at least 3 for a confidence interval).")]
    = "1,2,3",
    out: Annotated[Path, typer.Option(help="Folder for results.md, results.json, learning_curve.png.")] = Path(
        "var/policies"),
    source: Annotated[str | None, typer.Option(help="Source layout of --dataset (default: detected).")] = None,
) -> None:
    """Policies against the strongest non-RL ranker over split seeds (each its own split and encoder): a table of
    returns and paired differences with bootstrap 95% CIs. Runs are kept under --out/runs: run it again to
    resume."""
    from graphrec.training.rl.ctr_bench import ctr_results
    from graphrec.training.rl.policy_comparison import evaluate_logreplay
    from graphrec.training.rl.tables import write_results

    if env in SIMULATORS:
        fail(ValueError(f"--env {env}: the simulators' comparison is `python -m benchmarks.simulators`"))
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    names = [p.strip() for p in policies.split(",") if p.strip()]
    try:
        if env == PolicyEnv.ctr:
            write_results(ctr_results(names, seed_list), None, out, f"CTR simulator, {len(seed_list)} seeds")
        else:
            name, interactions, items, triples = load_frames(dataset, source)
            user_model = None
            if env == PolicyEnv.gan:
                from dataclasses import replace

                from graphrec.training.rl.gan_env import split_user_model
                from graphrec.training.rl.logreplay import LogReplayConfig

                def user_model(seed: int) -> Any:  # each split's own, trained without its test pairs
                    return split_user_model(interactions, items, triples, replace(LogReplayConfig(), split_seed=seed))
            evaluate_logreplay(interactions, items, triples, names, seed_list, out, dataset=name,
                               user_model=user_model)
    except (IngestError, GraphError, ValueError, KeyError) as error:
        fail(error)
    typer.echo((out / "results.md").read_text())
