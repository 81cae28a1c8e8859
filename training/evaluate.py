"""The evaluation harness: one split, every model tuned on validation, scored once on test.

Honesty rules it enforces:
- hyper-parameters (and epoch counts) are chosen on a validation part carved from the training part; the
  test part is touched once per model, after refitting on the whole training part;
- the training items of each user are removed from the ranking;
- before any model sees data, a (user, item) pair in both the training and the test part, or in both the
  fitting and the validation part, makes the harness refuse to run (``LeakageError``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.training.anchors import anchors_for
from graphrec.training.models.base import ModelConfig, Recommender
from graphrec.training.models.registry import MODELS, model_class
from graphrec.training.names import BLEND, Protocol
from graphrec.training.ranking_metrics import ndcg_per_user, ranking_metrics
from graphrec.training.splits import Split, make_split
from graphrec.training.topk import top_k_in_blocks
from graphrec.training.train_data import (
    Catalogue,
    TrainData,
    build_catalogue,
    collapse_pairs,
    relevance_matrix,
    train_data,
)

log = logging.getLogger(__name__)
COLD_ITEM_MAX_TRAIN = 5
KG_MODELS = ("kgcn", "kgease", "kgease_beta")
COLD_HITS = "cold_hits.json"
TEST_USERS = "test_users.json"  # the ids of the users ndcg_per_user.json lists, in its order


class LeakageError(RuntimeError):
    """Evaluation data overlaps training data: the numbers would be meaningless, so nothing runs."""


@dataclass
class ModelResult:
    model: str
    config: dict[str, Any]
    metrics: dict[str, float]
    valid_ndcg: float
    seconds: float
    tried: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvaluationData:
    split: Split
    catalogue: Catalogue
    fit: TrainData
    train: TrainData
    valid: sp.csr_matrix
    test: sp.csr_matrix


def check_no_leakage(split: Split) -> None:
    for name, first, second in (("train", split.train, split.test), ("fit", split.fit_part, split.valid)):
        other = "test" if name == "train" else "validation"
        shared = first[["user_id", "item_id"]].drop_duplicates().merge(
            second[["user_id", "item_id"]].drop_duplicates(), on=["user_id", "item_id"])
        if len(shared):
            example = shared.iloc[0].to_dict()
            raise LeakageError(f"{len(shared):,} (user, item) pairs are in both the {name} and the {other} part, "
                               f"for example {example}; refusing to evaluate")


def prepare(split: Split, items: pd.DataFrame | None, triples: pd.DataFrame) -> EvaluationData:
    check_no_leakage(split)
    everything = pd.concat([split.train, split.test], ignore_index=True)
    catalogue = build_catalogue(everything, items, triples)
    return EvaluationData(split, catalogue, fit=train_data(catalogue, split.fit_part, triples),
                          train=train_data(catalogue, split.train, triples),
                          valid=relevance_matrix(catalogue, split.valid), test=relevance_matrix(catalogue, split.test))


def recommend(model: Recommender, data: TrainData, users: np.ndarray, k: int) -> np.ndarray:
    """Top-k item indices for ``users``, training items removed, scored in batches to bound memory."""
    return top_k_in_blocks(len(users), lambda start, stop: model.score(users[start:stop]), data.matrix[users], k)


def cold_hits(top: np.ndarray, users: np.ndarray, test: sp.csr_matrix, train_counts: np.ndarray) -> np.ndarray:
    """1 or 0 per test interaction whose item has <= COLD_ITEM_MAX_TRAIN training interactions: whether the
    item is in its user's ``top`` (in the same order for every model of a split, so models pair up)."""
    rows, cols = test[users].nonzero()
    cold = train_counts[cols] <= COLD_ITEM_MAX_TRAIN
    return (top[rows[cold]] == cols[cold][:, None]).any(axis=1).astype(np.int8)


def cold_recall(top: np.ndarray, users: np.ndarray, test: sp.csr_matrix, train_counts: np.ndarray) -> float:
    """Recall over the test interactions whose item has <= COLD_ITEM_MAX_TRAIN training interactions."""
    hits = cold_hits(top, users, test, train_counts)
    return float(hits.mean()) if len(hits) else float("nan")


@dataclass
class Fitted:
    """A model tuned on the fitting part (for validation scores) and its refit on the whole training part."""

    tuned: Recommender
    final: Recommender


def evaluate_model(name: str, data: EvaluationData, k: int = 10, quick: bool = False,
                   seed: int = 42) -> tuple[ModelResult, np.ndarray, Fitted]:
    """Tune ``name`` on validation, refit on the training part, rank the test users' items."""
    started = time.perf_counter()
    cls = model_class(name)
    valid_users = np.flatnonzero(data.valid.getnnz(axis=1))
    tried: list[dict[str, Any]] = []
    best: tuple[float, Recommender] | None = None
    for config in cls.grid[:1] if quick else cls.grid:
        model = cls(**config, seed=seed)
        model.fit(data.fit, data.valid)
        ndcg = ranking_metrics(recommend(model, data.fit, valid_users, k), data.valid[valid_users], k)[f"ndcg@{k}"]
        tried.append({**model.tuned_config(), "valid_ndcg": round(ndcg, 5)})
        log.info("%s %s valid ndcg@%d %.4f", name, config, k, ndcg)
        if best is None or ndcg > best[0]:
            best = (ndcg, model)
    assert best is not None
    final = cls(**best[1].tuned_config())
    final.fit(data.train, None)
    result, top = test_result(name, final, data, k)
    result.config, result.valid_ndcg, result.tried = best[1].tuned_config(), best[0], tried
    result.seconds = time.perf_counter() - started
    return result, top, Fitted(best[1], final)


def test_result(name: str, model: Recommender, data: EvaluationData, k: int) -> tuple[ModelResult, np.ndarray]:
    """Test metrics of a model fitted on the training part: P/R/NDCG/MAP@k, recall@20 and cold recall@20; with
    the test users' top max(k, 20) items."""
    test_users = np.flatnonzero(data.test.getnnz(axis=1))
    top = recommend(model, data.train, test_users, max(k, 20))
    metrics = ranking_metrics(top, data.test[test_users], k)
    metrics["recall@20"] = ranking_metrics(top, data.test[test_users], 20)["recall@20"]
    metrics["cold_recall@20"] = cold_recall(top[:, :20], test_users, data.test, data.train.item_counts())
    return ModelResult(name, model.config.model_dump(exclude_unset=True), metrics, float("nan"), 0.0), top


def evaluate_blend(members: dict[str, Fitted], valid_scores: dict[str, float], data: EvaluationData,
                   k: int = 10, max_members: int = 3, candidates: int = 4) -> tuple[ModelResult, np.ndarray]:
    """A convex blend built by forward selection on validation (Caruana et al. 2004): start from the best
    model, then add whichever of the next ``candidates`` models by validation NDCG, at whichever weight, raises
    the blend's validation NDCG most; stop at ``max_members`` or when nothing raises it."""
    started = time.perf_counter()
    valid_users = np.flatnonzero(data.valid.getnnz(axis=1))
    ranked = sorted(valid_scores, key=lambda n: -valid_scores[n])
    chosen, weights, best_ndcg = [ranked[0]], [1.0], valid_scores[ranked[0]]
    tried: list[dict[str, Any]] = []
    while len(chosen) < max_members:
        step: tuple[float, str, float] | None = None
        for name in [n for n in ranked if n not in chosen][:candidates]:
            for weight in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
                blend = Blend([members[n].tuned for n in (*chosen, name)], [*(w * (1 - weight) for w in weights),
                                                                           weight])
                ndcg = ranking_metrics(recommend(blend, data.fit, valid_users, k), data.valid[valid_users],
                                       k)[f"ndcg@{k}"]
                tried.append({"members": [*chosen, name], "weight": weight, "valid_ndcg": round(ndcg, 5)})
                if ndcg > best_ndcg and (step is None or ndcg > step[0]):
                    step = (ndcg, name, weight)
        if step is None:
            break
        best_ndcg, name, weight = step
        chosen, weights = [*chosen, name], [*(w * (1 - weight) for w in weights), weight]
    name = f"{BLEND}({'+'.join(chosen)})"
    final = Blend([members[n].final for n in chosen], weights)
    result, top = test_result(name, final, data, k)
    result.config = {"members": chosen, "weights": [round(w, 4) for w in weights]}
    result.valid_ndcg, result.tried, result.seconds = best_ndcg, tried, time.perf_counter() - started
    return result, top


class BlendConfig(ModelConfig):
    weights: list[float]


class Blend(Recommender):
    """Weighted sum of member scores, each standardised per user so that scales are comparable."""

    name = "blend"
    Config: ClassVar[type[ModelConfig]] = BlendConfig

    def __init__(self, members: list[Recommender], weights: list[float]) -> None:
        super().__init__(weights=weights)
        self.members, self.weights = members, weights

    def fit(self, data: TrainData, valid: sp.csr_matrix | None = None) -> None:
        raise NotImplementedError("a blend combines models that are already fitted")

    def score(self, users: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for member, weight in zip(self.members, self.weights, strict=True):
            scores = member.score(users).astype(np.float32)
            scores = weight * (scores - scores.mean(1, keepdims=True)) / (scores.std(1, keepdims=True) + 1e-9)
            total = scores if total is None else total + scores
        assert total is not None
        return total


def dump_recs(path: Path, catalogue: Catalogue, users: np.ndarray, top: np.ndarray) -> None:
    """user_id,item_id,rank (1 = best) in the dataset's own ids."""
    frame = pd.DataFrame({"user_id": np.repeat(catalogue.user_ids[users], top.shape[1]),
                          "item_id": catalogue.item_ids[top.ravel()],
                          "rank": np.tile(np.arange(1, top.shape[1] + 1), len(users))})
    frame.to_csv(path, index=False)


def run(interactions: pd.DataFrame, items: pd.DataFrame | None, triples: pd.DataFrame, *, dataset: str,
        protocol: Protocol, models: list[str], out: Path, seed: int = 42, k: int = 10, stratify: str = "user",
        dump: bool = False, quick: bool = False) -> list[ModelResult]:
    """The whole evaluation: split, leakage check, tune and test every model, write tables and a chart."""
    unknown = [m for m in models if m not in MODELS and m != BLEND]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    out.mkdir(parents=True, exist_ok=True)
    split = make_split(collapse_pairs(interactions), protocol, seed=seed, stratify=stratify)
    log.info(split.summary())
    data = prepare(split, items, triples)
    fitted: dict[str, Fitted] = {}
    test_users = np.flatnonzero(data.test.getnnz(axis=1))
    # A model already scored in OUT on this split is read back, unless a blend still to run needs it fitted;
    # the stored models this run does not list stay in OUT's files beside its own.
    previous = stored_results(out, split)
    stored = {} if BLEND in models and BLEND not in previous else previous
    others = [name for name in previous if name not in models]
    results = [previous[name][0] for name in others]
    per_user = {name: previous[name][1] for name in others}  # NDCG@k of every test user, per model (paired)
    cold: dict[str, list[int]] = json.loads((out / COLD_HITS).read_text()) if previous and (
        out / COLD_HITS).is_file() else {}  # per model, the cold test interactions' hits (paired over models)
    for name in models:
        if name in KG_MODELS and data.train.kg is None:
            log.warning("skipping %s: the dataset has no knowledge-graph triples", name)
            continue
        if name in stored:
            result, per_user[name] = stored[name]
            results.append(result)
            log.info("%s: read back from %s", name, out)
            continue
        if name == BLEND:
            if len(fitted) < 2:
                raise ValueError("blend needs at least two other models before it in --models")
            result, top = evaluate_blend(fitted, {r.model: r.valid_ndcg for r in results if r.model in fitted},
                                         data, k)
        else:
            result, top, fitted[name] = evaluate_model(name, data, k=k, quick=quick, seed=seed)
        results.append(result)
        per_user[name] = ndcg_per_user(top, data.test[test_users], k).tolist()
        (out / TEST_USERS).write_text(json.dumps(data.catalogue.user_ids[test_users].tolist()))
        cold[name] = cold_hits(top[:, :20], test_users, data.test, data.train.item_counts()).tolist()
        (out / "ndcg_per_user.json").write_text(json.dumps(per_user))
        (out / COLD_HITS).write_text(json.dumps(cold))
        if dump:
            dump_recs(out / f"recs_{name}.csv", data.catalogue, test_users, top[:, :k])
        write_reports(results, out, dataset=dataset, protocol=protocol, split=split, k=k)
    if dump:
        split.test[["user_id", "item_id"]].to_csv(out / "test.csv", index=False)
        split.train[["user_id", "item_id"]].to_csv(out / "train.csv", index=False)
    return results


def stored_results(out: Path, split: Split) -> dict[str, tuple[ModelResult, list[float]]]:
    """The results and per-user NDCG a previous run wrote to ``out`` for the same split, by model name."""
    results_file, per_user_file = out / "results.json", out / "ndcg_per_user.json"
    if not (results_file.is_file() and per_user_file.is_file()):
        return {}
    payload, per_user = json.loads(results_file.read_text()), json.loads(per_user_file.read_text())
    if payload.get("split") != split.summary():
        return {}
    stored = {}
    for row in payload["results"]:
        key = BLEND if row["model"].startswith(f"{BLEND}(") else row["model"]
        if key in per_user:
            stored[key] = (ModelResult(**row), per_user[key])
    return stored


def write_reports(results: list[ModelResult], out: Path, *, dataset: str, protocol: str, split: Split,
                  k: int) -> None:
    anchors = anchors_for(protocol, dataset)
    columns = [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", "map", "recall@20", "cold_recall@20"]
    payload = {"dataset": dataset, "protocol": protocol, "split": split.summary(), "k": k,
               "results": [asdict(r) for r in results], "anchors": anchors}
    (out / "results.json").write_text(json.dumps(payload, indent=2, default=float))
    lines = [f"# {dataset}, protocol {protocol}", "", split.summary(), "",
             "| model | " + " | ".join(columns) + " | seconds |", "|---|" + "---|" * (len(columns) + 1)]
    for r in sorted(results, key=lambda r: -r.metrics[f"ndcg@{k}"]):
        cells = " | ".join(f"{r.metrics.get(c, float('nan')):.4f}" for c in columns)
        lines.append(f"| {r.model} | {cells} | {r.seconds:.0f} |")
    for name, figures in anchors.items():
        cells = " | ".join(f"{figures[c]:.4f}" if c in figures else "" for c in columns)
        lines.append(f"| *{name} (published)* | {cells} | |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    _chart(results, anchors, out / "results.png", f"{dataset} ({protocol}): NDCG@{k}", f"ndcg@{k}")


def _chart(results: list[ModelResult], anchors: dict[str, dict[str, float]], path: Path, title: str,
           metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [(r.model, r.metrics[metric]) for r in sorted(results, key=lambda r: -r.metrics[metric])]
    theirs = [(f"{n} (published)", f[metric]) for n, f in anchors.items() if metric in f]
    names = [n for n, _ in ours + theirs]
    values = [v for _, v in ours + theirs]
    colours = ["tab:blue"] * len(ours) + ["tab:gray"] * len(theirs)
    figure, axis = plt.subplots(figsize=(max(6, 0.8 * len(names)), 4))
    axis.bar(names, values, color=colours)
    axis.set_title(title)
    axis.set_ylabel(metric)
    plt.setp(axis.get_xticklabels(), rotation=40, ha="right")
    for x, v in enumerate(values):
        axis.text(x, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
