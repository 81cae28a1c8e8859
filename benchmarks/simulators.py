"""RL where users react: our policies in SARDINE and RecSim interest evolution, each environment beside its static
control, against the strongest non-RL rows, under the protocol frozen below before the deciding runs.

    python -m benchmarks.simulators [--stage plan|sweep|decide|report|all] [--jobs 2] [--envs ...] [--methods ...]
    python -m benchmarks.simulators --quick      # smoke test: 2 seeds, short training, <= 10 minutes

Stages: ``sweep`` trains every method at every discount of DISCOUNTS on the SEARCH_SEEDS in the reactive
environment of each pair; ``decide`` trains each method at its chosen discount (the sweep's best non-zero discount
by mean held-out return, for both environments of the pair) and at discount 0, on every TEST_SEED, and plays the
baselines (training/rl/sim/baselines.py) on the same held-out users; ``report`` writes the tables (OUT/results.md).
Every (environment, row, seed) is stored under OUT/runs as it ends and skipped when found: run it again to resume.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.training.rl.drr import DRRConfig
from graphrec.training.rl.kgdqn import KGDQNConfig
from graphrec.training.rl.ppo import PPOConfig
from graphrec.training.rl.sim.baselines import BASELINES, PRIVILEGED, tune_heuristic
from graphrec.training.rl.sim.envs import SPECS
from graphrec.training.rl.sim.play import SessionStats, play_sessions
from graphrec.training.rl.sim.stats import iqm_and_mean, paired_tests
from graphrec.training.rl.sim.train import (
    SimTraining,
    policy_ranker,
    train_in_simulator,
    training_stream,
    user_seeds,
)
from graphrec.training.rl.slateq import SlateQConfig

# ---- The protocol, frozen before the deciding runs (issue 33) ------------------------------------------------
METHODS = ("drr", "ppo", "slateq", "kgdqn")
DISCOUNTS = (0.0, 0.5, 0.8, 0.95)
SEARCH_SEEDS = (101, 102, 103)  # the discount sweep; never test seeds
TEST_SEEDS = tuple(range(1, 11))
HELD_OUT_USERS = 500  # per test seed, shared by every row of that seed
VALIDATION_USERS = 100  # checkpoint selection, per seed
TUNING_USERS = 200  # the heuristic's weight, per seed
TRAINING = SimTraining(steps=120_000, envs=32, evaluations=8, rollout=64)
# The learners' own defaults (training.rl.*), with one update per batch of 32 new transitions for the replay
# learners: 256 sampled per 32 added.
CONFIGS: dict[str, Any] = {"drr": DRRConfig(updates_per_step=1), "ppo": PPOConfig(),
                           "slateq": SlateQConfig(), "kgdqn": KGDQNConfig(updates_per_step=1)}
BASELINE_ROWS = ("random", "oracle", "greedy", "heuristic")
# ---------------------------------------------------------------------------------------------------------------
SWEEP_ORDER = ("sardine-rerank-bored", "recsim-ie", "sardine-topk-bored")  # the cheapest first: runs resume
# Published figures beside ours (mean episodic return).
ANCHORS = {
    "recsim-ie": "RLlib's SlateQ example (10 candidates, slate 3): random 160.4, click-maximising myopic 168.8, "
                 "SlateQ 173.6; its tuned examples pass at 160-162",
    "sardine-topk-bored": "SARDINE's paper figures for these environments could not be found in the references "
                          "stored here",
}

QUICK = {"search": (), "test": (1, 2), "held_out": 50, "validation": 20, "tuning": 40, "discount": 0.8,
         "training": SimTraining(steps=2_000, envs=16, evaluations=2, rollout=32)}


@dataclass(frozen=True)
class Job:
    env: str
    row: str  # a baseline name, or <method>-g<discount>
    seed: int
    held_out: int
    validation: int
    tuning: int
    training: SimTraining

    def path(self, out: Path) -> Path:
        return out / "runs" / self.env / f"{self.row}-s{self.seed}.json"


def rl_row(method: str, discount: float) -> str:
    return f"{method}-g{discount:g}"


def _summary(stats: SessionStats) -> dict[str, list[float]]:
    return {name: np.round(getattr(stats, name), 4).tolist()
            for name in ("returns", "first_tenth_clicks", "last_tenth_clicks", "topics_per_slate", "slates")}


def run_job(job: Job, out: Path) -> str:
    """Trains or tunes the row, plays its held-out users, stores the record; returns a line for the console."""
    import torch

    torch.set_num_threads(1)
    path = job.path(out)
    if path.is_file():
        return f"{job.env} {job.row} seed {job.seed}: stored"
    spec = SPECS[job.env]
    test = user_seeds("test", job.seed, job.held_out)
    started = time.perf_counter()
    record: dict[str, Any] = {"env": job.env, "row": job.row, "seed": job.seed}
    if job.row in BASELINES:
        stats = play_sessions(BASELINES[job.row], spec, test)
    elif job.row == "heuristic":
        heuristic, grid = tune_heuristic(spec, user_seeds("tuning", job.seed, job.tuning))
        record |= {"weight": heuristic.weight, "tuning_returns": {str(k): v for k, v in grid.items()}}
        stats = play_sessions(heuristic.ranker(), spec, test)
    else:
        method, discount = job.row.split("-g")
        config = replace(CONFIGS[method], gamma=float(discount), seed=job.seed)
        trained = train_in_simulator(method, spec, config, job.training, training_stream(job.seed),
                                     user_seeds("validation", job.seed, job.validation))
        stats = play_sessions(policy_ranker(trained.policy), spec, test)
        record |= {"config": asdict(config), "training": asdict(job.training), "curve": trained.curve,
                   "best_step": int(trained.best_iteration), "metrics": trained.log.record(points=50)}
    record |= {"seconds": round(time.perf_counter() - started, 1), **_summary(stats)}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, default=float))
    temporary.replace(path)
    return f"{job.env} {job.row} seed {job.seed}: return {stats.mean_return:.2f} ({record['seconds']:.0f} s)"


def load(out: Path, env: str, row: str, seed: int) -> dict[str, Any] | None:
    path = out / "runs" / env / f"{row}-s{seed}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def chosen_discount(out: Path, pair: str, method: str, search: tuple[int, ...]) -> float | None:
    """The sweep's non-zero discount of best mean held-out return in the pair's reactive environment."""
    env = next(name for name, spec in SPECS.items() if spec.pair == pair and spec.reactive)
    means = {}
    for discount in DISCOUNTS[1:]:
        runs = [load(out, env, rl_row(method, discount), seed) for seed in search]
        if any(run is None for run in runs):
            return None
        means[discount] = float(np.mean([np.mean(run["returns"]) for run in runs]))  # type: ignore[index]
    return max(means, key=lambda d: means[d])


def sweep_jobs(envs: list[str], methods: list[str], protocol: dict[str, Any]) -> list[Job]:
    reactive = sorted((env for env in envs if SPECS[env].reactive), key=lambda env: SWEEP_ORDER.index(env))
    return [Job(env, rl_row(method, discount), seed, protocol["held_out"], protocol["validation"],
                protocol["tuning"], protocol["training"])
            for env in reactive for method in methods for discount in DISCOUNTS for seed in protocol["search"]]


def decide_jobs(envs: list[str], methods: list[str], protocol: dict[str, Any], out: Path) -> list[Job]:
    jobs = []
    for env in envs:
        rows = list(BASELINE_ROWS)
        for method in methods:
            discount = protocol.get("discount") or chosen_discount(out, SPECS[env].pair, method, protocol["search"])
            if discount is None:
                print(f"{env} {method}: the discount sweep is not complete; run --stage sweep first")
                continue
            rows += [rl_row(method, discount), rl_row(method, 0.0)]
        jobs += [Job(env, row, seed, protocol["held_out"], protocol["validation"], protocol["tuning"],
                     protocol["training"]) for seed in protocol["test"] for row in rows]
    return jobs


def run_jobs(jobs: list[Job], out: Path, processes: int) -> None:
    todo = [job for job in jobs if not job.path(out).is_file()]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs stored; {len(todo)} to run on {processes} processes")
    if processes <= 1:
        for job in todo:
            print(run_job(job, out), flush=True)
        return
    with get_context("spawn").Pool(processes, maxtasksperchild=20) as pool:
        for line in pool.imap_unordered(_run_star, [(job, out) for job in todo]):
            print(line, flush=True)


def _run_star(arguments: tuple[Job, Path]) -> str:
    return run_job(*arguments)


def report(out: Path, envs: list[str], methods: list[str], protocol: dict[str, Any]) -> str:
    from importlib.metadata import version

    lines = [f"# RL in reactive simulators (sardine-rec {version('sardine-rec')}, recsim-no-tf "
             f"{version('recsim-no-tf')}; {platform.machine()}, {os.cpu_count()} cores)", ""]
    verdicts: dict[str, dict[str, list[str] | None]] = {}
    for env in envs:
        seeds = protocol["test"]
        rows: dict[str, list[dict[str, Any]]] = {}
        for row in [*BASELINE_ROWS, *sorted({p.stem.rsplit("-s", 1)[0] for p in (out / "runs" / env).glob("*-g*")
                                            if p.stem.split("-g")[0] in methods})]:
            runs = [load(out, env, row, seed) for seed in seeds]
            if all(run is not None for run in runs):
                rows[row] = runs  # type: ignore[assignment]
        if not rows:
            continue
        candidates = [row for row in rows if row not in PRIVILEGED and row in BASELINE_ROWS]
        best = max(candidates, key=lambda row: np.mean([np.mean(r["returns"]) for r in rows[row]]))
        rl = [row for row in rows if row not in BASELINE_ROWS]
        tests = paired_tests({row: [np.subtract(r["returns"], b["returns"]) for r, b in zip(
            rows[row], rows[best], strict=True)] for row in rl}) if rl else {}
        spec = SPECS[env]
        lines += [f"## {env} ({'users react' if spec.reactive else 'static control'}; {len(seeds)} seeds x "
                  f"{len(rows[best][0]['returns'])} held-out users; best non-RL row: {best})", "",
                  *([f"Published: {ANCHORS[env]}.", ""] if env in ANCHORS else []),
                  "| row | IQM [95% CI] | mean [95% CI] | minus best non-RL [Holm CI] | p (Holm) | clicks/slate first "
                  "tenth | last tenth | topics/slate | slates/session |", "|---|---|---|---|---|---|---|---|---|"]
        for row, runs in rows.items():
            iqm, mean = iqm_and_mean(np.array([np.mean(r["returns"]) for r in runs]))
            test = tests.get(row)
            paired = (f"{test.mean:+.2f} [{test.low:+.2f}, {test.high:+.2f}] | {test.p_value:.3f}" if test
                      else "— | —")
            figures = [np.mean([np.mean(r[name]) for r in runs]) for name in
                       ("first_tenth_clicks", "last_tenth_clicks", "topics_per_slate", "slates")]
            lines.append(f"| {row} | {iqm.value:.2f} [{iqm.low:.2f}, {iqm.high:.2f}] | {mean.value:.2f} "
                         f"[{mean.low:.2f}, {mean.high:.2f}] | {paired} | {figures[0]:.3f} | {figures[1]:.3f} | "
                         f"{figures[2]:.2f} | {figures[3]:.1f} |")
        verdicts.setdefault(spec.pair, {})[env] = [row for row, test in tests.items()
                                                   if test.beyond_noise and test.mean > 0] if rl else None
        lines.append("")
    lines += ["## Verdicts", ""]
    for pair, by_env in verdicts.items():
        react = next((e for e in by_env if SPECS[e].reactive), None)
        static = next((e for e in by_env if not SPECS[e].reactive), None)
        said = [f"where users react ({react}), RL rows above the best non-RL row beyond the noise: "
                f"{_verdict(by_env[react])}" if react else "",
                f"in the static control ({static}): {_verdict(by_env[static])}" if static else ""]
        lines.append(f"- {pair}: " + "; ".join(s for s in said if s) + ".")
    lines += ["", sweep_table(out, methods, protocol)]
    return "\n".join(lines)


def _verdict(rows: list[str] | None) -> str:
    return "no RL runs yet" if rows is None else ", ".join(rows) or "none"


def sweep_table(out: Path, methods: list[str], protocol: dict[str, Any]) -> str:
    if not protocol["search"]:
        return f"(no discount sweep in this mode: every method runs at discount {protocol.get('discount')})"
    lines = [f"## Discount sweep (seeds {', '.join(map(str, protocol['search']))}: mean held-out return, "
             f"sd over seeds; * chosen)", "", "| env | method | " + " | ".join(f"{d:g}" for d in DISCOUNTS) + " |",
             "|---|---|" + "---|" * len(DISCOUNTS)]
    for env, spec in SPECS.items():
        if not spec.reactive:
            continue
        for method in methods:
            chosen = chosen_discount(out, spec.pair, method, protocol["search"])
            cells = []
            for discount in DISCOUNTS:
                runs = [load(out, env, rl_row(method, discount), seed) for seed in protocol["search"]]
                if any(run is None for run in runs):
                    cells.append("—")
                    continue
                values = [np.mean(run["returns"]) for run in runs]  # type: ignore[index]
                cells.append(f"{np.mean(values):.2f} ± {np.std(values):.2f}{' *' if discount == chosen else ''}")
            lines.append(f"| {env} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plan(envs: list[str], methods: list[str], protocol: dict[str, Any], out: Path) -> str:
    sweep = len(sweep_jobs(envs, methods, protocol))
    decide = sum(len(protocol["test"]) * (len(BASELINE_ROWS) + 2 * len(methods)) for _ in envs)
    training = protocol["training"]
    measured = [json.loads(p.read_text())["seconds"] for p in (out / "runs").glob("*/*-g*.json")]
    per_run = float(np.mean(measured)) if measured else 120.0
    rl_runs = sweep + len(envs) * len(protocol["test"]) * 2 * len(methods)
    return (f"Plan: {len(envs)} environments, methods {', '.join(methods)}; sweep {sweep} runs (discounts "
            f"{DISCOUNTS} x seeds {protocol['search']}), deciding {decide} runs (seeds {protocol['test']}, "
            f"{protocol['held_out']} held-out users each); each RL run trains {training.steps:,} environment steps "
            f"({training.envs} users in lockstep, {training.evaluations} checkpoint evaluations on "
            f"{protocol['validation']} validation users); {rl_runs * training.steps / 1e6:.1f}M training steps "
            f"in all; about {rl_runs * per_run / 3600:.1f} core-hours at {per_run:.0f} s per RL run "
            f"({'measured' if measured else 'assumed'}).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=("plan", "sweep", "decide", "report", "all"), default="all")
    parser.add_argument("--envs", default=",".join(SPECS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes (one core each)")
    parser.add_argument("--quick", action="store_true", help="2 seeds, short training: a smoke test")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    envs = [e for e in args.envs.split(",") if e]
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted({*envs} - set(SPECS)) + sorted({*methods} - set(METHODS))
    if unknown:
        parser.error(f"unknown environments or methods: {', '.join(unknown)}")
    if args.quick:
        protocol, out = QUICK, args.out or Path("var/simulators-quick")
    else:
        protocol = {"search": SEARCH_SEEDS, "test": TEST_SEEDS, "held_out": HELD_OUT_USERS,
                    "validation": VALIDATION_USERS, "tuning": TUNING_USERS, "training": TRAINING}
        out = args.out or Path(__file__).parent / "results" / "simulators"
    print(plan(envs, methods, protocol, out), flush=True)
    if args.stage in ("sweep", "all") and protocol["search"]:
        run_jobs(sweep_jobs(envs, methods, protocol), out, args.jobs)
    if args.stage in ("decide", "all"):
        run_jobs(decide_jobs(envs, methods, protocol, out), out, args.jobs)
    if args.stage in ("report", "all"):
        text = report(out, envs, methods, protocol)
        (out / "results.md").write_text(text + "\n")
        print(text)


if __name__ == "__main__":
    main()
