"""The non-RL rankers the policies are measured against: what they score, how they are tuned, how they are served."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.ingest.frames import Dataset
from graphrec.ingest.synthetic import generate
from graphrec.training.models.non_neural import DebiasedKnowledgeEASE
from graphrec.training.rl.checkpoint_files import load_policy, save_policy
from graphrec.training.rl.logreplay import LogReplayConfig, ReplayWorld, build_world, train_encoder
from graphrec.training.rl.nets import PolicyInputs
from graphrec.training.rl.policy_comparison import TRAINERS
from graphrec.training.rl.reference_rankers import (
    BLENDS,
    BlendConfig,
    GreedyFoldedPolicy,
    GreedyQualityPolicy,
    fit_ease_ranker,
    fit_refit_rankers,
    start_weights,
    tune_blend,
)
from graphrec.training.rl.rollout import greedy_scores, policy_scores, run_episodes
from graphrec.training.rl.scorer import RequestScorer

SMALL = LogReplayConfig(candidates=40, steps=3, encoder_epochs=10)


@pytest.fixture(scope="module")
def world() -> ReplayWorld:
    data: Dataset = generate(users=150, items=120, interactions=6_000, seed=3)
    ratings = 1.0 + (data.interactions.index.to_numpy() * 7919 % 5)
    return build_world(data.interactions.assign(rating=ratings), data.items, data.triples, SMALL, seed=1)


def test_a_blend_scores_the_user_folded_with_the_history_mean_plus_the_quality_prior(world: ReplayWorld) -> None:
    part = world.test.subset(np.arange(8))
    history = part.history.copy()
    history[0] = -1  # no history: nothing is folded in
    zero = GreedyFoldedPolicy(world.item_vectors, world.item_quality, BlendConfig())
    assert np.allclose(policy_scores(zero, world)(part, history), greedy_scores(world)(part, history), atol=1e-4)
    config = BlendConfig(quality_weight=0.7, fold_weight=0.3)
    scores = policy_scores(GreedyFoldedPolicy(world.item_vectors, world.item_quality, config), world)(part, history)
    for row in range(len(part)):
        kept = history[row][history[row] >= 0]
        mean = world.item_vectors[kept].mean(axis=0) if len(kept) else np.zeros(world.item_vectors.shape[1])
        user = world.user_vectors[part.users[row]] + 0.3 * mean
        expected = world.item_vectors[part.candidates[row]] @ user + 0.7 * world.item_quality[part.candidates[row]]
        assert np.allclose(scores[row], expected, atol=1e-4)


@pytest.mark.parametrize("name", sorted(BLENDS))
def test_tuning_keeps_the_grid_point_of_the_best_training_return_and_the_checkpoint_serves(
        name: str, world: ReplayWorld, tmp_path: Path) -> None:
    tuned = tune_blend(world, name, seed=1)
    cls = BLENDS[name]
    assert len(tuned.curve) == len(cls.fold_grid) * len(cls.quality_grid)
    assert dict(tuned.curve)[tuned.best_iteration] <= max(value for _, value in tuned.curve)  # within the guard
    again = run_episodes(policy_scores(tuned.policy, world), world, world.train).mean_return
    assert again == pytest.approx(dict(tuned.curve)[tuned.best_iteration])
    if name == GreedyQualityPolicy.name:
        assert tuned.policy.config.fold_weight == 0
    path = tmp_path / f"{name}.pt"
    save_policy(tuned.policy, path)
    loaded = load_policy(path)
    assert type(loaded) is cls and loaded.config == replace(tuned.policy.config)
    scorer = RequestScorer(loaded, SMALL.history, cache_size=0)
    part = world.test.subset(np.arange(3))
    eager = policy_scores(tuned.policy, world)(part, part.history)
    for row in range(3):
        served = scorer(world.user_vectors[part.users[row]], part.history[row], part.candidates[row])
        assert np.allclose(served, eager[row], atol=1e-4)


def test_ease_scores_candidates_from_the_context_and_the_positives_revealed_in_the_episode(
        world: ReplayWorld) -> None:
    ranker, seconds = fit_ease_ranker(world, l2_grid=(50.0, 500.0))
    assert seconds > 0 and ranker.model == "kgease_beta" and ranker.config["l2"] in (50.0, 500.0)
    assert ranker.config["beta"] in DebiasedKnowledgeEASE.BETAS
    part = world.test.subset(np.arange(6))
    history = part.history.copy()
    revealed = part.candidates[:, :2]  # as if the first two candidates were liked during the episode
    history = np.concatenate([revealed, history], axis=1)[:, : history.shape[1]]
    scores = ranker(part, history)
    for row in range(len(part)):
        row_vector = part.seen[row].toarray().ravel()
        kept = history[row][history[row] >= 0]
        row_vector[kept] = 1.0
        expected = (row_vector @ ranker.b)[part.candidates[row]]
        assert np.allclose(scores[row], expected, atol=1e-4)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_an_untrained_policy_starts_exactly_as_the_blend_whose_weights_it_is_given(
        name: str, world: ReplayWorld) -> None:
    blend = BlendConfig(quality_weight=0.4, fold_weight=0.6)
    train, config_type = TRAINERS[name]
    untrained = train(world, replace(config_type(), iterations=0, **start_weights([(0.0, blend.__dict__)]))).policy
    part = world.test.subset(np.arange(8))
    history = part.history.copy()
    history[0] = -1  # an empty history folds nothing in
    expected = policy_scores(GreedyFoldedPolicy(world.item_vectors, world.item_quality, blend), world)(part, history)
    inputs = PolicyInputs.from_arrays(world.user_vectors[part.users], history, part.candidates)
    with torch.no_grad():
        assert np.allclose(untrained.start_scores(inputs).numpy(), expected, atol=1e-4)
    if name != "kgdqn":  # DRR and PPO: the residual starts at zero, so the policy ranks as the blend does
        assert np.allclose(policy_scores(untrained, world)(part, history), expected, atol=1e-4)


def test_the_refit_encoder_learns_the_tune_pairs_except_the_validation_users_for_their_ranker(
        world: ReplayWorld) -> None:
    every = np.unique(world.catalogue.user_index(world.split.tune["user_id"]))
    validation, test, seconds = fit_refit_rankers(world, every, seed=1)
    assert seconds > 0
    # With every user held out, the validation encoder learned the fit part alone, for the world's epoch count.
    alone = train_encoder(world.config, world.catalogue, world.fit_data, None, 1, epochs=world.encoder_epochs)
    assert np.allclose(validation.user_vectors, alone.user_vectors, atol=1e-5)
    assert not np.allclose(test.user_vectors, alone.user_vectors, atol=1e-3)
    # With none held out, both encoders learned the same pairs.
    validation, test, _ = fit_refit_rankers(world, np.zeros(0, dtype=np.int64), seed=1)
    assert np.allclose(validation.user_vectors, test.user_vectors, atol=1e-5)
    part = world.test.subset(np.arange(4))
    expected = np.einsum("bd,bcd->bc", test.user_vectors[part.users], test.item_vectors[part.candidates])
    assert np.allclose(test(part, part.history), expected)


def test_one_ndcg_guard_chooses_every_row(world: ReplayWorld) -> None:
    """The blends' weights and the RL checkpoints follow one rule (LogReplayConfig.ndcg_tolerance): the best
    return among choices whose first-slate NDCG@10 stays within the tolerance of greedy's; None: the best return."""
    from graphrec.training.rl.checkpoint_selection import CheckpointTracker
    from graphrec.training.rl.logreplay import ndcg_floor

    greedy = run_episodes(greedy_scores(world), world, world.train)
    for tolerance in (None, 0.0):
        guarded = replace(world, config=replace(world.config, ndcg_tolerance=tolerance))
        tuned = tune_blend(guarded, "greedy_quality", seed=1)
        chosen = run_episodes(policy_scores(tuned.policy, guarded), guarded, guarded.train)
        if tolerance is None:
            assert chosen.mean_return == pytest.approx(max(value for _, value in tuned.curve))
        else:
            assert chosen.ndcg_at_10 >= greedy.ndcg_at_10 and chosen.mean_return >= greedy.mean_return
        tracker = CheckpointTracker(tuned.policy, guarded, guarded.train)
        assert tracker.ndcg_floor == ndcg_floor(guarded.config, greedy.ndcg_at_10)
    assert ndcg_floor(replace(world.config, ndcg_tolerance=None), 0.5) == float("-inf")
    assert ndcg_floor(replace(world.config, ndcg_tolerance=0.01), 0.5) == pytest.approx(0.495)


def test_ease_and_the_refit_get_the_quality_prior_and_kgdqn_its_untrained_twin(
        world: ReplayWorld, tmp_path: Path) -> None:
    """Every baseline gets what the policies get: EASE and the refit encoder plus a tuned quality weight (0 is
    the ranker itself), and KG-DQN's starting blend with its two-hop filter (what it ranks before training)."""
    from graphrec.training.rl.policy_comparison import run_model

    start = {"quality_start": 0.0, "fold_start": 0.0}
    for plain in ("ease", "greedy_refit"):
        alone = run_model(world, plain, 1, None, tmp_path, start)
        blended = run_model(world, f"{plain}_quality", 1, None, tmp_path, start)
        assert "quality_weight" in blended.config and len(blended.returns) == len(world.test)
        if blended.config["quality_weight"] == 0:
            assert blended.returns == alone.returns
    khop = run_model(world, "blend_khop", 1, None, tmp_path, start)
    assert khop.config["iterations"] == 0 and khop.config["khop_filter"] and khop.best_iteration == 0
    assert load_policy(tmp_path / "blend_khop.pt").name == "kgdqn"
