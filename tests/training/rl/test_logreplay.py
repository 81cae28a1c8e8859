"""Log replay and the RL policies over candidate sets, on small generated data (real training, few steps)."""

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
from graphrec.training.rl import logreplay
from graphrec.training.rl.checkpoint_files import load_policy, save_policy
from graphrec.training.rl.logreplay import (
    LogReplayConfig,
    LogReplayEnv,
    ReplayBatch,
    ReplayWorld,
    build_world,
    pair_rewards,
    slate_from_scores,
)
from graphrec.training.rl.policy_comparison import TRAINERS, evaluate_logreplay
from graphrec.training.rl.rollout import greedy_scores, policy_scores, run_episodes
from graphrec.training.rl.scorer import RequestScorer

SMALL = LogReplayConfig(candidates=40, steps=3, encoder_epochs=10)


@pytest.fixture(scope="module")
def rated() -> Dataset:
    data = generate(users=150, items=120, interactions=6_000, seed=3)
    ratings = 1.0 + (data.interactions.index.to_numpy() * 7919 % 5)  # every rating 1..5, deterministic
    return replace(data, interactions=data.interactions.assign(rating=ratings))


@pytest.fixture(scope="module")
def world(rated: Dataset) -> ReplayWorld:
    return build_world(rated.interactions, rated.items, rated.triples, SMALL, seed=1)


def test_training_and_evaluation_targets_are_disjoint_and_unseen(world: ReplayWorld, rated: Dataset) -> None:
    for episodes in (world.train, world.test):
        assert (episodes.candidates >= 0).all() and episodes.candidates.shape[1] == SMALL.candidates
    # A user's test targets are neither training targets nor in the training context.
    users = np.intersect1d(world.train.users, world.test.users)
    train_rows = {u: set(world.train.relevant[i].indices) for i, u in enumerate(world.train.users)}
    test_rows = {u: set(world.test.relevant[i].indices) for i, u in enumerate(world.test.users)}
    assert all(not (train_rows[u] & test_rows[u]) for u in users)
    # Test candidates never include an item of the test episode's context (fit + tune).
    pairs = pair_rewards(rated.interactions)
    assert len(pairs) == len(pairs.drop_duplicates(["user_id", "item_id"]))
    for row in range(len(world.test)):
        history = world.test.history[row]
        assert not set(history[history >= 0]) & set(world.test.candidates[row])


def test_the_replay_rewards_targets_and_refuses_repeated_items(world: ReplayWorld) -> None:
    batch = ReplayBatch(world.test, SMALL)
    rewards = np.nan_to_num(world.test.rewards, nan=-9.0)
    best = slate_from_scores(rewards, batch.available, SMALL.slate_size)  # an oracle slate
    reward, item_rewards = batch.step(best)
    expected = np.where(np.isnan(item_rewards), SMALL.miss_penalty, item_rewards).sum(axis=1)
    assert np.allclose(reward, expected) and (~np.isnan(item_rewards)).any()
    with pytest.raises(ValueError, match="already shown"):
        batch.step(best)


def test_the_single_user_environment_follows_the_gymnasium_api(world: ReplayWorld) -> None:
    env = LogReplayEnv(world.test, world.catalogue.n_items, SMALL)
    check_env(env, skip_render_check=True)
    observation, info = env.reset(options={"user": 0})
    total = 0.0
    done = False
    while not done:
        available = np.flatnonzero(observation["available"])
        observation, reward, done, _, _ = env.step(available[: SMALL.slate_size])
        total += reward
    assert info["user"] == int(world.test.users[0]) and np.isfinite(total)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_each_policy_starts_as_greedy_trains_and_round_trips_its_checkpoint(
        name: str, world: ReplayWorld, tmp_path: Path) -> None:
    train, config_type = TRAINERS[name]
    untrained = train(world, replace(config_type(), iterations=0))
    # The residual starts at zero: the untrained policy ranks as the encoder does.
    first = world.test.subset(np.arange(10))
    user = world.user_vectors[first.users]
    greedy = greedy_scores(world)(first, first.history)
    scores = untrained.policy.score_numpy(user, first.history, first.candidates)
    if name != "kgdqn":  # KG-DQN's k-hop filter may move non-neighbours down; compare its raw Q order instead
        assert (np.argsort(-scores, axis=1)[:, :5] == np.argsort(-greedy, axis=1)[:, :5]).all()
    trained = train(world, replace(config_type(), iterations=2, seed=3))
    assert [i for i, _ in trained.curve] == [0, 1, 2] and trained.seconds > 0
    stats = run_episodes(policy_scores(trained.policy, world), world, world.test)
    assert np.isfinite(stats.mean_return) and 0 <= stats.ndcg_at_10 <= 1
    path = tmp_path / f"{name}.pt"
    save_policy(trained.policy, path)
    again = load_policy(path)
    assert np.allclose(again.score_numpy(user, first.history, first.candidates),
                       trained.policy.score_numpy(user, first.history, first.candidates), atol=1e-5)
    with torch.no_grad():
        assert not any(p.requires_grad and p.grad is not None for p in again.parameters())
    # The service scores one request at a time through traces of the policy: the same scores, for an empty
    # history, one with a gap and one cut to fewer candidates; asked again (the session code kept), the same.
    scorer = RequestScorer(again, first.history.shape[1], cache_size=2)
    assert scorer.traced
    histories = [np.full_like(first.history[0], -1), np.where(np.arange(first.history.shape[1]) == 1, -1,
                                                                first.history[1]), first.history[2]]
    for _ in range(2):
        for row, (history, count) in enumerate(zip(histories, (40, 40, 7), strict=True)):
            eager = again.score_numpy(user[row:row + 1], history[None], first.candidates[row:row + 1, :count])[0]
            assert np.allclose(scorer(user[row], history, first.candidates[row, :count]), eager, atol=1e-5)
            # another user with the same history must not get this one's code
            other = again.score_numpy(user[row + 3:row + 4], history[None], first.candidates[row:row + 1, :count])[0]
            assert np.allclose(scorer(user[row + 3], history, first.candidates[row, :count]), other, atol=1e-5)
    assert scorer.cached_codes == 2


def test_evaluate_writes_paired_rows_against_the_strongest_baseline_and_resumes(
        rated: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = {"ppo": replace(TRAINERS["ppo"][1](), iterations=1)}
    names = ["greedy", "greedy_quality", "greedy_folded", "greedy_refit", "ease", "ppo", "ppo_g0"]
    results, runs = evaluate_logreplay(rated.interactions, rated.items, rated.triples, names, [1, 2, 3], tmp_path,
                                       SMALL, configs, dataset="rated")
    rows = json.loads((tmp_path / "results.json").read_text())
    keys = {"policy", "env", "dataset", "split_seeds", "mean_return", "ci95_low", "ci95_high", "ndcg_at_10",
            "precision_at_10", "ctr", "baseline", "paired_diff", "paired_ci95_low", "paired_ci95_high"}
    assert [r["policy"] for r in rows] == names and all(keys <= set(r) for r in rows)
    assert all(r["ci95_low"] <= r["mean_return"] <= r["ci95_high"] and r["split_seeds"] == [1, 2, 3] for r in rows)
    # The baseline is the non-RL ranker with the best mean validation return, and its own difference is 0.
    baseline = max(rows[:5], key=lambda r: r["validation_return"])
    assert {r["baseline"] for r in rows} == {baseline["policy"]} and baseline["paired_diff"] == 0
    ppo = rows[-2]
    # the same users recur in every split: the intervals cluster them; the RL rows are tested together (Holm)
    assert len(runs[1]["ppo"].users) == len(runs[1]["ppo"].returns)
    assert all(r["paired_p_holm"] is not None for r in rows[-2:]) and rows[0]["paired_p_holm"] is None
    # the discount-0 twin: the same network and config (ppo's), myopic
    twin = runs[1]["ppo_g0"].config
    assert twin["gamma"] == 0.0 and {k: v for k, v in twin.items() if k != "gamma"} == {
        k: v for k, v in runs[1]["ppo"].config.items() if k != "gamma"}
    assert ppo["paired_ci95_low"] <= ppo["paired_diff"] <= ppo["paired_ci95_high"]
    expected = np.mean([np.mean(np.subtract(runs[s]["ppo"].returns, runs[s][baseline["policy"]].returns))
                        for s in (1, 2, 3)])
    assert ppo["paired_diff"] == pytest.approx(expected)
    # Each seed is its own split: the held-out episodes differ.
    assert len({runs[s]["greedy"].world for s in (1, 2, 3)}) == 3
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    assert "| ppo |" in (tmp_path / "results.md").read_text()
    # Each slate's mean reward is reported; over the episode they add up to the mean return.
    assert len(runs[1]["ppo"].step_returns) == SMALL.steps and "| slate 1 |" in (tmp_path / "results.md").read_text()
    assert sum(runs[1]["ppo"].step_returns) == pytest.approx(np.mean(runs[1]["ppo"].returns))
    assert sum(ppo["step_returns"]) == pytest.approx(ppo["mean_return"])
    # A second run reads every (seed, model) back instead of building a world; one removed is run again.
    (tmp_path / "runs" / "seed-2" / "ppo.json").unlink()
    built: list[int] = []
    original = logreplay.build_world

    def counting(*args: object, **kwargs: object) -> ReplayWorld:
        built.append(int(kwargs["seed"]))  # type: ignore[call-overload]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(logreplay, "build_world", counting)
    again, _ = evaluate_logreplay(rated.interactions, rated.items, rated.triples, names, [1, 2, 3], tmp_path,
                                  SMALL, configs, dataset="rated")
    assert built == [2] and [r.mean_return for r in again[:5]] == [r.mean_return for r in results[:5]]
    assert [r.mean_return for r in again if r.policy == "ppo_g0"] == [r.mean_return for r in results
                                                                       if r.policy == "ppo_g0"]
    # A stored RL run trained with another config than the one asked for is run again.
    evaluate_logreplay(rated.interactions, rated.items, rated.triples, names, [1, 2], tmp_path, SMALL,
                       {"ppo": replace(TRAINERS["ppo"][1](), iterations=2)}, dataset="rated")
    assert built == [2, 1, 2]
    assert json.loads((tmp_path / "runs" / "seed-1" / "ppo.json").read_text())["config"]["iterations"] == 2


def test_a_checkpoint_that_needs_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"name": "ppo", "item_vectors": np.zeros((2, 2))}, path)  # a NumPy array needs pickled globals
    with pytest.raises(ValueError, match="not a weights-only policy checkpoint"):
        load_policy(path)


def test_the_search_keeps_the_grid_point_of_best_validation_return_and_never_reads_the_test_episodes(
        world: ReplayWorld) -> None:
    from graphrec.training.rl.search import search

    test = world.test
    world.test = test.subset(np.arange(0))  # nothing to read: a search that touched the test episodes would fail
    try:
        result = search(world, "ppo", seed=2, grid={"lr": (1e-4, 1e-3)}, base=replace(TRAINERS["ppo"][1](),
                                                                                      iterations=1))
    finally:
        world.test = test
    assert [row["lr"] for row in result.tried] == [1e-4, 1e-3]
    assert result.chosen["lr"] == max(result.tried, key=lambda row: row["validation_return"])["lr"]


def test_drr_learns_only_from_slates_its_action_vector_chose(world: ReplayWorld) -> None:
    """A random exploration slate has no action vector that ranks it, so the replay keeps none of them: with
    every slate random, the critic never updates."""
    train, config_type = TRAINERS["drr"]
    all_random = train(world, replace(config_type(), iterations=1, epsilon=1.0))
    assert "critic_loss" not in all_random.log.series and all_random.best_iteration == 0
    chosen = train(world, replace(config_type(), iterations=1, epsilon=0.0))
    assert len(chosen.log.series["critic_loss"]) > 0
