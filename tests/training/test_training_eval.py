"""The evaluation harness: protocols, metric definitions checked independently, leakage refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from graphrec.ingest.frames import Dataset
from graphrec.ingest.synthetic import generate
from graphrec.training.evaluate import LeakageError, prepare, recommend, run
from graphrec.training.models.non_neural import DebiasedKnowledgeEASE, KnowledgeEASE
from graphrec.training.quality_seeds import run_seeds
from graphrec.training.ranking_metrics import ranking_metrics
from graphrec.training.splits import make_split, stratified_split


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(users=150, items=120, interactions=6_000, seed=11)


def independent_metrics(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """The Microsoft Recommenders definitions, written out user by user without NumPy."""
    relevant: dict[object, set[object]] = {}
    for user, item in zip(test["user_id"], test["item_id"], strict=True):
        relevant.setdefault(user, set()).add(item)
    ranked: dict[object, list[object]] = {}
    for user, item, _rank in sorted(zip(recs["user_id"], recs["item_id"], recs["rank"], strict=True),
                                    key=lambda row: (str(row[0]), row[2])):
        ranked.setdefault(user, []).append(item)
    totals = {"ndcg": 0.0, "precision": 0.0, "recall": 0.0, "map": 0.0}
    for user, truth in relevant.items():
        items = ranked.get(user, [])[:k]
        hits = [item in truth for item in items]
        dcg = sum(1 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
        idcg = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(truth))))
        found, precision_sum = 0, 0.0
        for rank, hit in enumerate(hits):
            if hit:
                found += 1
                precision_sum += found / (rank + 1)
        totals["ndcg"] += dcg / idcg
        totals["precision"] += sum(hits) / k
        totals["recall"] += sum(hits) / len(truth)
        totals["map"] += precision_sum / len(truth)
    return {name: value / len(relevant) for name, value in totals.items()}


def test_dumped_recommendations_recompute_to_the_reported_metrics(dataset: Dataset, tmp_path: Path) -> None:
    results = run(dataset.interactions, dataset.items, dataset.triples, dataset="synthetic", protocol="ms",
                  models=["popularity", "ease", "bpr"], out=tmp_path, dump=True, quick=True)
    assert [r.model for r in results] == ["popularity", "ease", "bpr"]
    reported = {r["model"]: r["metrics"] for r in json.loads((tmp_path / "results.json").read_text())["results"]}
    test = pd.read_csv(tmp_path / "test.csv")
    train = pd.read_csv(tmp_path / "train.csv")
    for model in ("popularity", "ease", "bpr"):
        recs = pd.read_csv(tmp_path / f"recs_{model}.csv")
        assert recs.groupby("user_id").size().eq(10).all()
        # No recommended item was seen in training.
        assert not len(recs.merge(train, on=["user_id", "item_id"]))
        mine = independent_metrics(recs, test)
        for ours, theirs in (("ndcg@10", "ndcg"), ("precision@10", "precision"), ("recall@10", "recall"),
                             ("map", "map")):
            assert reported[model][ours] == pytest.approx(mine[theirs], abs=1e-9), (model, ours)
    assert reported["ease"]["ndcg@10"] > reported["popularity"]["ndcg@10"]
    assert (tmp_path / "results.md").read_text().count("|") > 10 and (tmp_path / "results.png").stat().st_size
    # Per-user NDCG (what paired comparisons resample) averages to the reported figure.
    per_user = json.loads((tmp_path / "ndcg_per_user.json").read_text())
    assert all(np.mean(per_user[m]) == pytest.approx(reported[m]["ndcg@10"]) for m in ("popularity", "ease", "bpr"))


def test_the_table_over_split_seeds_pairs_every_model_with_ease_and_resumes(dataset: Dataset,
                                                                            tmp_path: Path) -> None:
    models = ["popularity", "ease", "itemknn", "blend"]  # the blend's row is named after what it blends
    rows = run_seeds(dataset.interactions, dataset.items, dataset.triples, dataset="synthetic", protocol="ms",
                     models=models, out=tmp_path, seeds=[1, 2, 3], quick=True)
    by_model = {r.model: r for r in rows}
    assert set(by_model) == set(models) and by_model["ease"].paired_diff == 0
    for row in rows:
        assert row.ci95_low <= row.ndcg_at_10 <= row.ci95_high and len(row.per_seed_ndcg) == 3
        assert row.paired_ci95_low <= row.paired_diff <= row.paired_ci95_high
    # Each seed is its own split; the popularity ranker is far below EASE beyond the noise.
    assert len(set(by_model["ease"].per_seed_ndcg)) == 3 and by_model["popularity"].paired_ci95_high < 0
    assert "minus ease" in (tmp_path / "seeds.md").read_text()
    # the test users are recorded per seed, so a user who recurs across seeds is one cluster of the bootstrap
    users = [json.loads((tmp_path / f"seed-{s}" / "test_users.json").read_text()) for s in (1, 2, 3)]
    assert all(len(u) == len(json.loads((tmp_path / f"seed-{s}" / "ndcg_per_user.json").read_text())["ease"])
               for s, u in zip((1, 2, 3), users, strict=True)) and set(users[0]) & set(users[1])
    # A second call reads the seeds back: nothing is refit (the per-seed files stay as they were).
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("seed-*/results.json")}
    stored_ease = {seed: json.loads((tmp_path / f"seed-{seed}" / "ndcg_per_user.json").read_text())["ease"]
                   for seed in (1, 2, 3)}
    again = run_seeds(dataset.interactions, dataset.items, dataset.triples, dataset="synthetic", protocol="ms",
                      models=models, out=tmp_path, seeds=[1, 2, 3], quick=True)
    assert [r.ndcg_at_10 for r in again] == [r.ndcg_at_10 for r in rows]
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.glob("seed-*/results.json")}
    # A later run of another model adds it to the seeds' files and keeps what they held.
    run_seeds(dataset.interactions, dataset.items, dataset.triples, dataset="synthetic", protocol="ms",
              models=["rp3beta"], out=tmp_path, seeds=[1, 2, 3], quick=True)
    for seed in (1, 2, 3):
        kept = json.loads((tmp_path / f"seed-{seed}" / "ndcg_per_user.json").read_text())
        assert set(kept) == {*models, "rp3beta"} and kept["ease"] == stored_ease[seed]


def test_kgease_beta_divides_kgease_scores_by_popularity_with_the_exponent_validation_prefers(
        dataset: Dataset) -> None:
    data = prepare(make_split(dataset.interactions, "ms"), dataset.items, dataset.triples)
    users = np.flatnonzero(data.valid.getnnz(axis=1))
    tuned = DebiasedKnowledgeEASE(l2=50.0, alpha=2.0)
    tuned.fit(data.fit, data.valid)
    chosen = tuned.tuned_config()["beta"]

    def valid_ndcg(beta: float) -> float:
        model = DebiasedKnowledgeEASE(l2=50.0, alpha=2.0, beta=beta)
        model.fit(data.fit, data.valid)  # a given beta is kept, not tuned
        assert model.config.beta == beta
        return ranking_metrics(recommend(model, data.fit, users, 10), data.valid[users], 10)["ndcg@10"]

    assert valid_ndcg(chosen) == max(valid_ndcg(beta) for beta in DebiasedKnowledgeEASE.BETAS)
    refit, plain = DebiasedKnowledgeEASE(**tuned.tuned_config()), KnowledgeEASE(l2=50.0, alpha=2.0)
    refit.fit(data.train)
    plain.fit(data.train)
    popularity = np.maximum(data.train.item_counts(), 1)
    assert refit.config.beta == chosen
    assert np.allclose(refit.score(users), plain.score(users) / popularity ** chosen, atol=1e-5)


def test_planted_test_interaction_makes_the_evaluator_refuse(dataset: Dataset) -> None:
    split = make_split(dataset.interactions, "ms")
    split.train = pd.concat([split.train, split.test.iloc[[0]]], ignore_index=True)
    with pytest.raises(LeakageError, match="both the train and the test part"):
        prepare(split, dataset.items, dataset.triples)
    split = make_split(dataset.interactions, "ms")
    split.fit_part = pd.concat([split.fit_part, split.valid.iloc[[3]]], ignore_index=True)
    with pytest.raises(LeakageError, match="validation"):
        prepare(split, dataset.items, dataset.triples)


@pytest.mark.parametrize("protocol", ["ms", "recbole", "temporal"])
def test_protocols_are_disjoint_and_proportioned(dataset: Dataset, protocol: str) -> None:
    split = make_split(dataset.interactions, protocol)  # type: ignore[arg-type]
    key = ["user_id", "item_id"]
    assert not len(split.train[key].merge(split.test[key]))
    assert not len(split.fit_part[key].merge(split.valid[key]))
    assert len(split.fit_part) + len(split.valid) == len(split.train)
    share = len(split.test) / (len(split.train) + len(split.test))
    expected = {"ms": 0.25, "recbole": 0.1, "temporal": 0.2}[protocol]
    assert share == pytest.approx(expected, abs=0.03)
    if protocol == "recbole":
        assert (split.train["rating"] >= 3).all() and (split.test["rating"] >= 3).all()
    if protocol == "temporal":
        latest_train = split.train.groupby("user_id")["last_ts"].max()
        earliest_test = split.test.groupby("user_id")["last_ts"].min()
        assert (latest_train.loc[earliest_test.index] <= earliest_test).all()


def test_stratified_split_follows_the_recommenders_rule() -> None:
    frame = pd.DataFrame({"user_id": [1] * 4 + [2] * 2 + [3], "item_id": range(7)})
    train, test = stratified_split(frame, 0.75, seed=42)
    # round(0.75 * n) rows per user go to train: 3 of 4, 2 of 2 (1.5 rounds to 2), 1 of 1 (0.75 rounds to 1).
    assert train.groupby("user_id").size().to_dict() == {1: 3, 2: 2, 3: 1}
    assert len(test) == 1 and test["user_id"].iloc[0] == 1
    again, _ = stratified_split(frame, 0.75, seed=42)
    assert again.equals(train)


def test_metric_definitions_on_a_hand_worked_case() -> None:
    relevant = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1]], dtype=np.float32))
    top = np.array([[2, 1, 0], [0, 1, 3]])
    figures = ranking_metrics(top, relevant, k=3)
    dcg_user0 = 1 + 1 / math.log2(4)
    idcg_user0 = 1 + 1 / math.log2(3)
    assert figures["ndcg@3"] == pytest.approx((dcg_user0 / idcg_user0 + 0) / 2)
    assert figures["precision@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert figures["recall@3"] == pytest.approx((1 + 0) / 2)
    assert figures["map"] == pytest.approx(((1 + 2 / 3) / 2 + 0) / 2)
    assert figures["mrr@3"] == pytest.approx(0.5) and figures["hit@3"] == pytest.approx(0.5)
