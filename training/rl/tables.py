"""Tables of policies: the row every table holds (results.json), its markdown and the learning-curve figure."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from graphrec.training.paired import clustered_mean, holm_tests, nested_bootstrap, paired_difference


class HasCurve(Protocol):
    """A stored run with a learning curve (training.rl.policy_comparison.ModelRun): (iteration, validation return)."""

    curve: list[Any]


@dataclass
class PolicyResult:
    """One row of a table: the keys results.json promises (``split_seeds`` are a CTR table's world seeds)."""

    policy: str
    env: str = ""
    mean_return: float = 0.0
    ci95_low: float = 0.0
    ci95_high: float = 0.0
    ndcg_at_10: float | None = None
    precision_at_10: float | None = None
    ctr: float | None = None
    dataset: str = ""
    split_seeds: list[int] = field(default_factory=list)
    baseline: str | None = None  # the strongest non-RL baseline of the table
    paired_diff: float | None = None  # this row minus the baseline, user by user (seed by seed for the CTR)
    paired_ci95_low: float | None = None
    paired_ci95_high: float | None = None  # an RL row's: at its Holm-corrected level (paired_rows)
    paired_p_holm: float | None = None  # an RL row's Holm-adjusted bootstrap p
    validation_return: float | None = None
    per_seed_return: list[float] = field(default_factory=list)
    train_seconds: float = 0.0  # mean over seeds
    step_returns: list[float] = field(default_factory=list)  # mean reward of each slate over users and seeds


def paired_rows(values: dict[str, list[np.ndarray]], baseline: str | None, ids: list[np.ndarray] | None = None,
                claim: set[str] | None = None, **fields: object) -> list[PolicyResult]:
    """A row per ranker from its per-user values in each seed (the same users, in the same order, for every
    ranker of a seed): the mean with its bootstrap interval, and the paired difference to ``baseline``.

    With ``ids`` (each seed's user ids) the intervals are training.paired.nested_bootstrap's: seeds resampled,
    and a user who recurs across seeds resampled once as one cluster; the rows of ``claim`` (the RL rows) are
    tested together with Holm's correction (their intervals at the corrected level, their adjusted p). Without,
    the users are resampled within each seed (a CTR table's seeds are its worlds). ``fields`` fill the rest of
    every row (env, dataset, split_seeds, ...)."""
    rows = []
    claimed: dict[str, tuple[float, np.ndarray]] = {}
    for name, per_seed in values.items():
        level = clustered_mean(per_seed, ids)
        row = PolicyResult(name, mean_return=level.mean, ci95_low=level.ci95_low, ci95_high=level.ci95_high,
                           baseline=baseline,
                           per_seed_return=[float(v.mean()) for v in per_seed], **fields)  # type: ignore[arg-type]
        if baseline is not None and ids is None:
            difference = paired_difference(per_seed, values[baseline])
            row.paired_diff, row.paired_ci95_low, row.paired_ci95_high = (
                difference.mean, difference.ci95_low, difference.ci95_high)
        elif baseline is not None:
            gaps = [np.asarray(ours, dtype=np.float64) - theirs for ours, theirs in zip(
                per_seed, values[baseline], strict=True)]
            draws = nested_bootstrap(gaps, ids)
            row.paired_diff = float(np.mean([gap.mean() for gap in gaps]))
            row.paired_ci95_low, row.paired_ci95_high = (float(x) for x in np.percentile(draws, [2.5, 97.5]))
            if name in (claim or set()):
                claimed[name] = (row.paired_diff, draws)
        rows.append(row)
    tests = holm_tests(claimed) if claimed else {}
    for row in rows:
        if row.policy in tests:
            test = tests[row.policy]
            row.paired_ci95_low, row.paired_ci95_high, row.paired_p_holm = test.low, test.high, test.p_value
    return rows


def write_results(results: list[PolicyResult], runs: dict[int, dict[str, HasCurve]] | None, out: Path,
                  title: str) -> None:
    """results.md, results.json and learning_curve.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    (out / "results.md").write_text(markdown_table(results, title))
    if runs and any(run.curve for by_model in runs.values() for run in by_model.values()):
        learning_curve(runs, out / "learning_curve.png", title)


def markdown_table(results: list[PolicyResult], title: str) -> str:
    def number(value: float | None) -> str:
        return "n/a" if value is None or np.isnan(value) else f"{value:.4f}"

    baseline = results[0].baseline if results else None
    lines = [f"# {title}", "", f"| policy | mean return | 95% CI | minus {baseline or 'baseline'} | 95% CI (RL "
             "rows: Holm) | p (Holm) | NDCG@10 | precision@10 | CTR | validation return | train s/seed |",
             "|---" * 11 + "|"]
    for r in results:
        paired = ("n/a", "") if r.paired_diff is None else (
            f"{r.paired_diff:+.4f}", f"[{r.paired_ci95_low:+.4f}, {r.paired_ci95_high:+.4f}]")
        holm = "" if r.paired_p_holm is None else f"{r.paired_p_holm:.3f}"
        lines.append(f"| {r.policy} | {r.mean_return:.4f} | [{r.ci95_low:.4f}, {r.ci95_high:.4f}] | {paired[0]} | "
                     f"{paired[1]} | {holm} | {number(r.ndcg_at_10)} | {number(r.precision_at_10)} | "
                     f"{number(r.ctr)} | {number(r.validation_return)} | {r.train_seconds:.1f} |")
    steps = max((len(r.step_returns) for r in results), default=0)
    if steps:
        lines += ["", "Mean reward of each slate over the episode:", "",
                  "| policy | " + " | ".join(f"slate {t + 1}" for t in range(steps)) + " |", "|---" * (steps + 1) + "|"]
        lines += [f"| {r.policy} | " + " | ".join(f"{v:.4f}" for v in r.step_returns) + " |"
                  for r in results if r.step_returns]
    return "\n".join(lines) + "\n"


def learning_curve(runs: dict[int, dict[str, HasCurve]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    names = [name for name, run in next(iter(runs.values())).items() if run.curve]
    for name in names:
        curves = [np.array(by_model[name].curve) for by_model in runs.values() if by_model[name].curve]
        length = min(len(c) for c in curves)
        values = np.stack([c[:length, 1] for c in curves])
        axis.plot(curves[0][:length, 0], values.mean(axis=0), label=name)
        axis.fill_between(curves[0][:length, 0], values.min(axis=0), values.max(axis=0), alpha=0.2)
    axis.set_xlabel("training iteration (0: untrained = greedy ranking)")
    axis.set_ylabel("validation mean episode return")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
