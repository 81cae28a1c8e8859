"""The quality table over several split seeds, so that a gap between two models is read against the noise.

Each seed is its own split and its own run of the harness (training.evaluate.run, under OUT/seed-<seed>/; a seed
whose folder already holds every model's per-user NDCG is read back, not run again). Per model: NDCG@10 averaged
over seeds with its bootstrap 95% interval, and the paired difference to a reference model (EASE): seeds
resampled and, as one cluster each, the test users who recur across seeds (training.paired.nested_bootstrap;
seeds run before the test users were recorded: users resampled within each seed).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrec.training.evaluate import COLD_HITS, TEST_USERS, run
from graphrec.training.names import BLEND, Protocol
from graphrec.training.paired import clustered_difference, clustered_mean


@dataclass
class SeedsRow:
    model: str
    ndcg_at_10: float
    ci95_low: float
    ci95_high: float
    precision_at_10: float  # mean over seeds
    reference: str | None
    paired_diff: float | None
    paired_ci95_low: float | None
    paired_ci95_high: float | None
    per_seed_ndcg: list[float]


def run_seeds(interactions: pd.DataFrame, items: pd.DataFrame | None, triples: pd.DataFrame, *, dataset: str,
              protocol: Protocol, models: list[str], out: Path, seeds: list[int], reference: str = "ease",
              also_against: tuple[str, ...] = ("kgease",), **options: Any) -> list[SeedsRow]:
    """Every seed's run (or its stored result), then a row per model; writes OUT/seeds.md and seeds.json, with
    each model's paired difference to ``reference`` in the table and to each of ``also_against`` below it."""
    per_user: dict[int, dict[str, list[float]]] = {}
    precision: dict[int, dict[str, float]] = {}
    for seed in seeds:
        folder = out / f"seed-{seed}"
        stored = folder / "ndcg_per_user.json"
        if not (stored.is_file() and set(models) <= set(json.loads(stored.read_text()))):
            run(interactions, items, triples, dataset=dataset, protocol=protocol, models=models, out=folder,
                seed=seed, **options)
        per_user[seed] = json.loads(stored.read_text())
        results = json.loads((folder / "results.json").read_text())["results"]
        # The blend's row is named after what it blends ("blend(kgease+lightgcn)"); its per-user key is BLEND.
        precision[seed] = {BLEND if r["model"].startswith(f"{BLEND}(") else r["model"]: r["metrics"]["precision@10"]
                           for r in results}
    present = [m for m in models if all(m in per_user[s] for s in seeds)]  # KG models skip data without a KG
    users = [out / f"seed-{s}" / TEST_USERS for s in seeds]
    ids = [np.asarray(json.loads(path.read_text())) for path in users] if all(p.is_file() for p in users) else None
    baseline = reference if reference in present else None
    rows = []
    for model in present:
        values = [np.asarray(per_user[s][model]) for s in seeds]
        level = clustered_mean(values, ids)
        row = SeedsRow(model, level.mean, level.ci95_low, level.ci95_high,
                       float(np.mean([precision[s][model] for s in seeds])), baseline, None, None, None,
                       [float(v.mean()) for v in values])
        if baseline is not None:
            difference = clustered_difference(values, [np.asarray(per_user[s][baseline]) for s in seeds], ids)
            row.paired_diff, row.paired_ci95_low, row.paired_ci95_high = (
                difference.mean, difference.ci95_low, difference.ci95_high)
        rows.append(row)
    rows.sort(key=lambda r: -r.ndcg_at_10)
    (out / "seeds.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    lines = [f"# {dataset}, protocol {protocol}, split seeds {', '.join(map(str, seeds))}", "",
             f"| model | NDCG@10 | 95% CI | minus {baseline} | 95% CI | precision@10 | NDCG@10 per seed |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        paired = ("", "") if r.paired_diff is None else (
            f"{r.paired_diff:+.4f}", f"[{r.paired_ci95_low:+.4f}, {r.paired_ci95_high:+.4f}]")
        lines.append(f"| {r.model} | {r.ndcg_at_10:.4f} | [{r.ci95_low:.4f}, {r.ci95_high:.4f}] | {paired[0]} | "
                     f"{paired[1]} | {r.precision_at_10:.4f} | {', '.join(f'{v:.4f}' for v in r.per_seed_ndcg)} |")
    for other in (m for m in also_against if m in present and m != baseline):
        lines += ["", f"Paired difference to {other} (NDCG@10):", "",
                  f"| model | minus {other} | 95% CI |", "|---|---|---|"]
        for r in rows:
            if r.model != other:
                difference = clustered_difference([np.asarray(per_user[s][r.model]) for s in seeds],
                                                  [np.asarray(per_user[s][other]) for s in seeds], ids)
                lines.append(f"| {r.model} | {difference.mean:+.4f} | [{difference.ci95_low:+.4f}, "
                             f"{difference.ci95_high:+.4f}] |")
    lines += cold_item_lines(out, seeds, present)
    (out / "seeds.md").write_text("\n".join(lines) + "\n")
    return rows


def cold_item_lines(out: Path, seeds: list[int], models: list[str], reference: str = "lightgcn") -> list[str]:
    """Recall@20 on the test interactions of items with <= 5 training interactions, per model over the seeds
    (the interactions resampled within each seed), and each model's paired difference to ``reference``."""
    hits: dict[str, list[np.ndarray]] = {}
    for model in models:
        per_seed = []
        for seed in seeds:
            stored = out / f"seed-{seed}" / COLD_HITS
            values = json.loads(stored.read_text()).get(model) if stored.is_file() else None
            if not values:
                break
            per_seed.append(np.asarray(values, dtype=np.float64))
        if len(per_seed) == len(seeds):
            hits[model] = per_seed
    if not hits:
        return []
    count = sum(len(v) for v in next(iter(hits.values())))
    lines = ["", f"Cold items (<= 5 training interactions; {count:,} test interactions over the seeds): recall@20",
             "", f"| model | recall@20 | 95% CI | minus {reference} | 95% CI |", "|---|---|---|---|---|"]
    for model, values in sorted(hits.items(), key=lambda item: -np.mean([v.mean() for v in item[1]])):
        level = clustered_mean(values, None)  # test interactions, not users: resampled within each seed
        paired = ("", "")
        if reference in hits and model != reference:
            difference = clustered_difference(values, hits[reference], None)
            paired = (f"{difference.mean:+.4f}", f"[{difference.ci95_low:+.4f}, {difference.ci95_high:+.4f}]")
        lines.append(f"| {model} | {level.mean:.4f} | [{level.ci95_low:.4f}, {level.ci95_high:.4f}] | {paired[0]} | "
                     f"{paired[1]} |")
    return lines
