"""The GAN user model's display sets, the simple user models and one short adversarial run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from graphrec.ingest.frames import Dataset
from graphrec.ingest.synthetic import generate
from graphrec.training.rl.display_sets import DisplayConfig, build_display_data, kg_candidates
from graphrec.training.rl.gan_user import (
    GANConfig,
    ItemKNNUserModel,
    LogisticUserModel,
    compare_user_models,
    precision_at,
)


def test_display_sets_hold_the_real_click_or_say_no_click_and_never_other_touched_items() -> None:
    data = generate(users=40, items=200, interactions=1_200, seed=5)
    config = DisplayConfig(display=6)
    display = build_display_data(data.interactions, data.items, data.triples, config)
    steps = display.label >= 0
    assert display.test[steps].any() and (~display.test[steps]).any()
    no_click = display.label == 6
    assert 0 < no_click[steps].mean() < 0.3
    for user, t in zip(*np.nonzero(steps & ~no_click), strict=True):
        assert display.displays[user, t, display.label[user, t]] == display.clicks[user, t]
    for user in range(len(display.clicks)):
        touched = set(display.clicks[user][display.clicks[user] >= 0])
        for t in np.flatnonzero(steps[user]):
            shown = set(display.displays[user, t].tolist())
            assert len(shown) == 6
            assert shown & touched <= {int(display.clicks[user, t])}
    # Distractors after the first step come from the step's knowledge-graph candidates about kg_share more often
    # than popularity alone puts them there.
    assert kg_candidate_share(data, config) - kg_candidate_share(data, replace(config, kg_share=0.0)) > 0.2


def kg_candidate_share(data: Dataset, config: DisplayConfig) -> float:
    """Share of the distractors after each user's first step that are that step's knowledge-graph candidates
    (the builder's tie-breaking popularity is log1p(training count), the first item feature, scaled below 1)."""
    display = build_display_data(data.interactions, data.items, data.triples, config)
    steps = display.label >= 0
    entities = (display.item_entities.toarray() > 0).astype(np.float32)
    log_counts = display.item_features[:, 0]
    popularity = log_counts / (log_counts.max() + 1.0)
    inside = []
    for user in np.flatnonzero(steps.any(axis=1)):
        sequence = display.clicks[user][display.clicks[user] >= 0]
        pools = kg_candidates(sequence, entities, popularity, sequence, config)
        for t in np.flatnonzero(steps[user])[1:]:
            others = [i for i in display.displays[user, t] if i != display.clicks[user, t]]
            inside.extend(i in set(pools[t].tolist()) for i in others)
    return float(np.mean(inside))


def test_knowledge_graph_candidates_share_the_most_entities_with_the_latest_clicks() -> None:
    entities = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=np.float32)
    popularity = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=np.float32)
    clicks = np.array([0, 4, 1])
    pools = kg_candidates(clicks, entities, popularity, clicks, DisplayConfig(kg_pool=3, kg_seeds=1))
    assert (pools[0] == -1).all()  # no click before the first step
    # After item 0 (entities 0 and 1): items 3 and 5 share two, item 2 one and is more popular than item 1.
    assert set(pools[1].tolist()) == {2, 3, 5}
    # One seed: only the latest click (item 4, entity 2) counts; item 5 alone shares it.
    assert sorted(pools[2].tolist()) == [-1, -1, 5]


def test_precision_at_k_counts_the_real_choice_in_the_top_k() -> None:
    scores = np.array([[0.9, 0.5, 0.1], [0.1, 0.2, 0.3]])
    assert precision_at(scores, np.array([1, 2]), 1) == 0.5
    assert precision_at(scores, np.array([1, 1]), 2) == 1.0


def test_the_adversarial_user_model_trains_and_is_compared_with_both_simple_models() -> None:
    data = generate(users=60, items=150, interactions=3_000, seed=9)
    display = build_display_data(data.interactions, data.items, data.triples)
    figures = compare_user_models(display, GANConfig(pretrain_epochs=1, adversarial_epochs=1, hidden=16, dim=8))
    assert set(figures) == {"gan", "mle_only", "item_knn", "logistic", "popular", "random"}
    assert all(0 <= values["prec@1"] <= values["prec@2"] <= 1 for values in figures.values())
    assert all(values["hits@1"].mean() == values["prec@1"] for values in figures.values())
    assert figures["gan"]["train_seconds"] > 0
    assert figures["gan"]["kept"] in {"start", "mle epoch 1", "adversarial epoch 1"}
    assert figures["mle_only"]["kept"] in {"start", "mle epoch 1"}


def test_held_out_pairs_come_after_every_training_step_and_the_item_knn_scores_earlier_clicks() -> None:
    data = generate(users=60, items=150, interactions=3_000, seed=9)
    pairs = data.interactions.drop_duplicates(["user_id", "item_id"])
    held_out = pairs.sample(frac=0.2, random_state=1)
    display = build_display_data(data.interactions, data.items, data.triples, held_out=held_out)
    expected = set(zip(held_out["user_id"], held_out["item_id"], strict=True))
    users, items = display.catalogue.user_ids, display.catalogue.item_ids
    for user in range(len(display.clicks)):
        row = display.clicks[user]
        taken = row >= 0
        held = display.test[user][taken]
        # The held-out steps are exactly the given pairs, and all come after the user's training steps.
        assert {(users[user], items[i]) for i in row[taken][held]} == {p for p in expected if p[0] == users[user]}
        assert not held.any() or held[np.argmax(held):].all()
    knn = ItemKNNUserModel(display)
    step = tuple(index[:1] for index in np.nonzero((display.label >= 0) & display.test))
    mask = np.zeros_like(display.test)
    mask[step] = True
    user, t = int(step[0][0]), int(step[1][0])
    before = display.clicks[user, :t]
    expected_scores = knn.similarity[display.displays[user, t]][:, before[before >= 0]].sum(axis=1)
    np.testing.assert_allclose(knn.predict(mask)[0, :-1], expected_scores, rtol=1e-5)


def test_the_logistic_model_scores_a_step_the_same_whichever_steps_are_scored_with_it() -> None:
    """Its features are scaled with the training steps' statistics, never with those of the rows it scores."""
    data = generate(users=60, items=150, interactions=3_000, seed=9)
    display = build_display_data(data.interactions, data.items, data.triples)
    steps = display.label >= 0
    model = LogisticUserModel(display).fit(steps & ~display.test)
    held = steps & display.test
    first = np.zeros_like(held)
    first[tuple(index[:1] for index in np.nonzero(held))] = True
    np.testing.assert_allclose(model.predict(held)[:1], model.predict(first), rtol=1e-6)
