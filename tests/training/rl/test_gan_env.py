"""Policies in sessions simulated by the GAN user model, on small generated data (real training, few steps)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from graphrec.ingest.frames import Dataset
from graphrec.ingest.synthetic import generate
from graphrec.training.rl.display_sets import DisplayData, build_display_data
from graphrec.training.rl.gan_env import UserSimulator, split_user_model
from graphrec.training.rl.gan_user import GANConfig, TrainedUserModel, train_gan_user_model
from graphrec.training.rl.logreplay import (
    LogReplayConfig,
    LogReplayEnv,
    ReplayWorld,
    build_world,
    pair_rewards,
    slate_from_scores,
    split_parts,
)
from graphrec.training.rl.policy_comparison import TRAINERS, evaluate_logreplay

SMALL = LogReplayConfig(candidates=40, steps=3, encoder_epochs=10)
TINY_GAN = GANConfig(pretrain_epochs=1, adversarial_epochs=1, hidden=16, dim=8)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(users=120, items=100, interactions=4_000, seed=4)


@pytest.fixture(scope="module")
def user_model(data: Dataset) -> tuple[TrainedUserModel, DisplayData]:
    display = build_display_data(data.interactions, data.items, data.triples)
    return train_gan_user_model(display, TINY_GAN), display


@pytest.fixture(scope="module")
def world(data: Dataset, user_model: tuple[TrainedUserModel, DisplayData]) -> ReplayWorld:
    world = build_world(data.interactions, data.items, data.triples, SMALL, seed=1)
    world.simulator = UserSimulator.for_world(*user_model, world)
    return world


def test_stepwise_scoring_matches_the_sequence_model(user_model: tuple[TrainedUserModel, DisplayData]) -> None:
    # The simulator carries the LSTM state click by click; it must score as the model trained on sequences.
    model, display = user_model
    users = np.flatnonzero((display.label >= 0).sum(axis=1) >= 4)[:5]
    clicks = torch.from_numpy(display.clicks[users, :4])
    displays = torch.from_numpy(display.displays[users, :4])
    with torch.no_grad():
        whole = model.generator(clicks, displays)
        state = model.generator.initial_state(torch.from_numpy(np.full((len(users), 1), -1)))
        for t in range(4):
            assert torch.allclose(model.generator.score_display(state[0], displays[:, t]), whole[:, t], atol=1e-5)
            state = model.generator.advance(state, clicks[:, t])
        prefix = model.generator.initial_state(clicks[:, :3])
        assert torch.allclose(model.generator.score_display(prefix[0], displays[:, 3]), whole[:, 3], atol=1e-5)


def test_a_simulated_session_clicks_shown_items_only_and_repeats_for_a_seed(world: ReplayWorld) -> None:
    episodes = world.test
    scores = np.einsum("bd,bcd->bc", world.user_vectors[episodes.users], world.item_vectors[episodes.candidates])

    def play(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
        batch = world.batch(episodes, seed=seed)
        rewards = []
        while not batch.done:
            slate = slate_from_scores(scores, batch.available, SMALL.slate_size)
            history_before = batch.history.copy()
            total, item_rewards = batch.step(slate)
            clicked = ~np.isnan(item_rewards)
            assert (clicked.sum(axis=1) <= 1).all()  # one item or no click per slate
            assert np.allclose(total, np.nan_to_num(item_rewards).sum(axis=1))
            assert not batch.available[np.arange(len(slate))[:, None], slate].any()
            # A click joins the policy's state, newest first; no click leaves it as it was.
            for row in np.flatnonzero(clicked.any(axis=1)):
                assert batch.history[row, 0] == episodes.candidates[row, slate[row][clicked[row]][0]]
            same = ~clicked.any(axis=1)
            assert (batch.history[same] == history_before[same]).all()
            rewards.append(item_rewards)
        return rewards, batch.history

    first, history = play(seed=3)
    again, history_again = play(seed=3)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(first, again, strict=True))
    assert (history == history_again).all()
    clicks = np.mean([(~np.isnan(r)).any(axis=1).mean() for r in first])
    assert 0 < clicks < 1  # some slates are clicked, some are not


def test_the_simulated_session_is_a_gymnasium_environment(world: ReplayWorld) -> None:
    env = LogReplayEnv(world.test, world.catalogue.n_items, SMALL, simulator=world.simulator)
    check_env(env, skip_render_check=True)
    env.reset(seed=5, options={"user": 0})
    trajectory = [env.step(np.arange(10) + 10 * step)[1] for step in range(SMALL.steps)]
    env.reset(seed=5, options={"user": 0})
    assert [env.step(np.arange(10) + 10 * step)[1] for step in range(SMALL.steps)] == trajectory


def test_policies_train_and_are_evaluated_in_the_gan_environment(
        data: Dataset, user_model: tuple[TrainedUserModel, DisplayData], tmp_path: Path) -> None:
    configs = {"ppo": replace(TRAINERS["ppo"][1](), iterations=1),
               "kgdqn": replace(TRAINERS["kgdqn"][1](), iterations=1)}
    asked: list[int] = []

    def per_split(seed: int) -> tuple[TrainedUserModel, DisplayData]:
        asked.append(seed)
        return user_model

    results, runs = evaluate_logreplay(data.interactions, data.items, data.triples, ["greedy", "ppo", "kgdqn"],
                                       [1, 2], tmp_path, SMALL, configs, user_model=per_split)
    assert asked == [1, 2]
    assert {r.env for r in results} == {"gan"} and sorted(runs) == [1, 2]
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [row["policy"] for row in rows] == ["greedy", "ppo", "kgdqn"]
    assert all(np.isfinite(row["mean_return"]) and 0 <= row["ctr"] <= 1 for row in rows)
    assert "GAN user model" in (tmp_path / "results.md").read_text()


def test_items_the_user_model_never_saw_are_neutral_and_foreign_data_is_refused(
        user_model: tuple[TrainedUserModel, DisplayData]) -> None:
    model, display = user_model
    bigger = generate(users=30, items=160, interactions=900, seed=11)  # 60 more items than the model saw
    world = build_world(bigger.interactions, bigger.items, bigger.triples, replace(SMALL, candidates=20), seed=1)
    simulator = UserSimulator.for_world(model, display, world)
    unseen = ~np.isin(world.catalogue.item_ids, display.catalogue.item_ids)
    assert unseen.any() and (simulator.item_rows[unseen] == display.n_items).all()  # the padding embedding
    assert (simulator.item_rows[~unseen] < display.n_items).all()
    foreign = replace(world, catalogue=replace(world.catalogue, item_ids=world.catalogue.item_ids + 10_000))
    with pytest.raises(ValueError, match="none of its items"):
        UserSimulator.for_world(model, display, foreign)


def test_the_user_model_of_a_split_is_trained_without_its_test_pairs(data: Dataset) -> None:
    config = replace(SMALL, split_seed=7)
    model, display = split_user_model(data.interactions, data.items, data.triples, config)
    _, _, test = split_parts(pair_rewards(data.interactions), config)
    held = {(display.catalogue.user_ids[u], display.catalogue.item_ids[display.clicks[u, t]])
            for u, t in zip(*np.nonzero(display.test & (display.clicks >= 0)), strict=True)}
    assert held == set(zip(test["user_id"], test["item_id"], strict=True)) and model.seconds > 0
    # The simulator's starting history of a user is the training part: no test pair in it.
    world = build_world(data.interactions, data.items, data.triples, config, seed=1)
    simulator = UserSimulator.for_world(model, display, world)
    rows = world.test.users[:20]
    started = {(world.catalogue.user_ids[u], display.catalogue.item_ids[i]) for u in rows
               for i in simulator.clicks[u][simulator.clicks[u] >= 0]}
    assert started and not started & held


def test_the_simulated_user_starts_from_the_context_and_pays_its_own_log_odds(world: ReplayWorld) -> None:
    """A training episode's simulated user has clicked only what the episode's context holds (not its targets);
    a click pays the chooser's own log-odds against "no click" (the reward is the utility it chose by)."""
    simulator = world.simulator
    assert isinstance(simulator, UserSimulator)
    for episodes in (world.train, world.test):
        clicks = simulator.context_clicks(episodes)
        for row in range(min(len(episodes), 40)):
            kept = clicks[row][clicks[row] >= 0]
            assert (clicks[row][len(kept):] == -1).all()  # -1 padded at the end only
            world_rows = simulator.world_rows[kept]
            assert (episodes.seen[row, world_rows].toarray() > 0).all()
            assert not (episodes.relevant[row, world_rows].toarray() > 0).any()  # no target clicked before
    batch = world.batch(world.train, seed=5)
    scores = np.einsum("bd,bcd->bc", world.user_vectors[world.train.users],
                       world.item_vectors[world.train.candidates])
    slate = slate_from_scores(scores, batch.available, SMALL.slate_size)
    shown = simulator.item_rows[world.train.candidates[np.arange(len(slate))[:, None], slate]]
    with torch.no_grad():
        expected = simulator.model.generator.score_display(batch.user_state[0], torch.from_numpy(shown)).numpy()
    _, item_rewards = batch.step(slate)
    rows, positions = np.nonzero(~np.isnan(item_rewards))
    assert len(rows) > 0
    np.testing.assert_allclose(item_rewards[rows, positions], expected[rows, positions] - expected[rows, -1],
                               rtol=1e-5, atol=1e-6)
