"""The reactive simulators behind one harness: parity with the packages' own environments and reference agents,
a few training steps of every policy in every environment, and the statistics of the tables."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from graphrec.training.rl.checkpoint_files import load_policy
from graphrec.training.rl.drr import DRRConfig
from graphrec.training.rl.kgdqn import KGDQNConfig
from graphrec.training.rl.policy_configs import parse_overrides
from graphrec.training.rl.ppo import PPOConfig
from graphrec.training.rl.sim.baselines import Heuristic, oracle_ranker, random_ranker, tune_heuristic
from graphrec.training.rl.sim.envs import SPECS, SimBatch
from graphrec.training.rl.sim.play import play_sessions
from graphrec.training.rl.sim.recsim_env import InterestEvolutionEnv, create_raw_environment
from graphrec.training.rl.sim.stats import iqm, iqm_and_mean, paired_tests
from graphrec.training.rl.sim.train import SimTraining, policy_ranker, train_in_simulator
from graphrec.training.rl.slateq import SlateQConfig

SEEDS = np.arange(7, 12)


def package_sardine_returns(env_id: str, agent: str, seeds: np.ndarray, **kwargs: object) -> list[float]:
    """Sessions driven the package's way: gym.make, reset(seed), the package's own agents."""
    from sardine.policies import EpsilonGreedyOracle

    returns = []
    for seed in seeds:
        env = gym.make(env_id, **kwargs)
        observation, _ = env.reset(seed=int(seed))
        env.action_space.seed(int(seed))
        oracle = EpsilonGreedyOracle(epsilon=0.0, env=env, seed=int(seed))
        total, done = 0.0, False
        while not done:
            action = env.action_space.sample() if agent == "random" else oracle.get_action(observation)
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


@pytest.mark.parametrize("name", ["sardine-topk-bored", "sardine-rerank-static"])
@pytest.mark.parametrize("agent", ["random", "oracle"])
def test_sardine_rows_equal_the_package_agents_on_the_same_seeds(name: str, agent: str) -> None:
    spec = SPECS[name]
    ours = play_sessions(random_ranker if agent == "random" else oracle_ranker, spec, SEEDS).returns
    assert ours.tolist() == package_sardine_returns(spec.env_id, agent, SEEDS, **spec.kwargs)


def package_recsim_returns(agent: str, seeds: np.ndarray) -> list[float]:
    """RecSim's RecSimGymEnv and its RandomAgent / GreedyPCTRAgent (true user state and choice model), seeded as
    the package seeds itself (samplers, then NumPy's global generator)."""
    from recsim import choice_model
    from recsim.agents.greedy_pctr_agent import GreedyPCTRAgent
    from recsim.agents.random_agent import RandomAgent

    raw = create_raw_environment()
    returns = []
    for seed in seeds:
        environment = raw._environment
        environment._document_sampler._seed = int(seed)
        environment.user_model._user_sampler._seed = int(seed)
        raw.reset_sampler()
        raw.seed(int(seed))
        observation = raw.reset()
        user = environment.user_model._user_state
        if agent == "random":
            policy = RandomAgent(raw.action_space, random_seed=int(seed))
        else:
            policy = GreedyPCTRAgent(raw.action_space, user,
                                     choice_model.MultinomialProportionalChoiceModel(user.choice_features))
        total, done = 0.0, False
        while not done:
            observation, reward, done, _ = raw.step(policy.step(0, observation))
            total += reward
        returns.append(total)
    return returns


@pytest.mark.parametrize("agent", ["random", "oracle"])
def test_recsim_rows_equal_the_package_agents_on_the_same_seeds(agent: str) -> None:
    ours = play_sessions(random_ranker if agent == "random" else oracle_ranker, SPECS["recsim-ie"], SEEDS)
    np.testing.assert_allclose(ours.returns, package_recsim_returns(agent, SEEDS))


def test_recsim_behind_gymnasium_steps_as_the_package_does() -> None:
    env, raw = InterestEvolutionEnv(), create_raw_environment()
    observation, _ = env.reset(seed=3)
    environment = raw._environment
    environment._document_sampler._seed = environment.user_model._user_sampler._seed = 3
    raw.reset_sampler()
    raw.seed(3)
    expected = raw.reset()
    np.testing.assert_array_equal(observation["user"], expected["user"])
    np.testing.assert_array_equal(observation["doc"], np.stack(list(expected["doc"].values())))
    for slate in ([0, 1, 2], [9, 4, 5], [3, 8, 7]):
        observation, reward, terminated, truncated, _ = env.step(np.array(slate))
        expected, expected_reward, done, _ = raw.step(slate)
        assert (reward, terminated, truncated) == (expected_reward, done, False)
        np.testing.assert_array_equal(observation["user"], expected["user"])
    with pytest.raises(ValueError, match="distinct"):
        env.step(np.array([1, 1, 2]))


def test_other_environments_between_steps_do_not_change_a_users_session() -> None:
    alone = play_sessions(random_ranker, SPECS["recsim-ie"], SEEDS[:1]).returns
    beside = play_sessions(random_ranker, SPECS["recsim-ie"], np.append(SEEDS[:1], SEEDS[1:])).returns[:1]
    assert alone.tolist() == beside.tolist()


def test_the_frozen_control_keeps_interests_and_gives_no_time_back() -> None:
    env = InterestEvolutionEnv(frozen=True)
    observation, _ = env.reset(seed=5)
    start = observation["user"].copy()
    budgets = [env.user_state.time_budget]
    for _ in range(30):
        observation, _, done, _, _ = env.step(np.array([0, 1, 2]))
        np.testing.assert_array_equal(observation["user"], start)
        budgets.append(env.user_state.time_budget)
        if done:
            break
    spent = np.round(-np.diff(budgets), 6)
    assert set(spent[:-1]) <= {0.5, 4.0}  # a click costs the 4 minutes watched, a miss 0.5; none gives any back


def test_the_sardine_control_is_never_bored() -> None:
    batch = SimBatch(SPECS["sardine-topk-static"], SEEDS)
    while not batch.done:
        batch.step(oracle_ranker(batch))
        assert not any(env.bored.any() for env in batch.envs)


def test_the_boredinf_averaging_quirk_is_inert_in_our_environments() -> None:
    """SARDINE averages the clicked items' embeddings without an axis (np.mean over a list of vectors: one
    number), so in the BoredInf variants (omega 0.95) a click pulls the user toward a constant vector. Our
    environments have omega 1: the update keeps the user's embedding as it was."""
    import sardine  # noqa: F401

    quirky = gym.make("sardine/SlateTopK-BoredInf-v0").unwrapped
    quirky.reset(seed=0)
    before = quirky.user_embedd.copy()
    quirky._clicked_item_influence(np.array([0, 1]), np.array([0, 1]))
    pulled = quirky.user_embedd * np.linalg.norm(0.95 * before + 0.05 * quirky.item_embedd[[0, 1]].mean())
    np.testing.assert_allclose(pulled, 0.95 * before + 0.05 * quirky.item_embedd[[0, 1]].mean(), rtol=1e-6)
    for spec in SPECS.values():
        if spec.family == "sardine":
            env = spec.make()
            env.reset(seed=0)
            assert env.omega == 1.0
            before = env.user_embedd.copy()
            env._clicked_item_influence(np.array([0, 1]), np.array([0, 1]))
            np.testing.assert_allclose(env.user_embedd, before)


CONFIGS = {"drr": DRRConfig(updates_per_step=1, batch_size=16), "ppo": PPOConfig(minibatch=32, epochs=1),
           "slateq": SlateQConfig(batch_size=16), "kgdqn": KGDQNConfig(updates_per_step=1, batch_size=16)}
NAMED_METRICS = {"drr": {"critic_loss", "actor_loss", "td_error", "mean_q", "critic_gradient_norm"},
                 "ppo": {"policy_loss", "value_loss", "approx_kl", "clip_fraction", "explained_variance", "entropy",
                         "gradient_norm"},
                 "slateq": {"td_loss", "choice_loss", "mean_q", "gradient_norm"},
                 "kgdqn": {"td_loss", "td_error", "mean_q", "gradient_norm"}}


@pytest.mark.parametrize("name", list(SPECS))
def test_every_policy_trains_a_few_steps_in_every_environment(name: str) -> None:
    spec = SPECS[name]
    for method, config in CONFIGS.items():
        trained = train_in_simulator(method, spec, config, SimTraining(steps=48, envs=4, evaluations=1, rollout=4),
                                     itertools.count(1_000), np.arange(2_000, 2_002))
        assert NAMED_METRICS[method] | {"validation_return"} <= set(trained.log.record())
        assert [step for step, _ in trained.curve] == [0, 48]
        stats_ = play_sessions(policy_ranker(trained.policy), spec, np.arange(3))
        assert stats_.returns.shape == (3,) and (stats_.slates > 0).all()
        assert (stats_.topics_per_slate >= 1).all()


def test_the_heuristic_is_tuned_on_its_own_users_and_zero_is_greedy() -> None:
    heuristic, returns = tune_heuristic(SPECS["sardine-rerank-bored"], np.arange(20), grid=(0.0, 1.0))
    assert set(returns) == {0.0, 1.0} and returns[heuristic.weight] == max(returns.values())
    batch = SimBatch(SPECS["sardine-topk-bored"], np.arange(2))
    greedy = Heuristic(0.0).scores(batch)
    np.testing.assert_allclose(greedy, batch.user_vectors @ batch.items.vectors.T, rtol=1e-6)


def test_iqm_is_the_quartile_trimmed_mean_and_intervals_cover_it() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0, 5.0, 6.0, 7.0])
    assert float(iqm(values)) == pytest.approx(stats.trim_mean(values, 0.25))
    middle, mean = iqm_and_mean(values, draws=500)
    assert middle.low <= middle.value <= middle.high and mean.value == pytest.approx(values.mean())


def test_holm_adjusts_the_smallest_p_the_most_and_widens_its_interval() -> None:
    rng = np.random.default_rng(0)
    clear = [rng.normal(1.0, 1.0, 200) for _ in range(3)]
    noise = [rng.normal(0.0, 1.0, 200) for _ in range(3)]
    tests = paired_tests({"clear": clear, "noise": noise}, draws=2_000)
    assert tests["clear"].beyond_noise and tests["clear"].low > 0
    assert not tests["noise"].beyond_noise
    assert tests["noise"].p_value >= tests["clear"].p_value


def test_train_policy_in_a_simulator_sets_typed_knobs_and_records_the_metrics(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from graphrec.cli import app
    from graphrec.settings import get_settings

    monkeypatch.setenv("GRAPHREC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()
    base = ["train-policy", "--env", "recsim-ie", "--policy", "slateq", "--steps", "64", "--users", "10",
            "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*base, "--set", "batch_size=16", "--set", "gamma=0.5"])
    assert result.exit_code == 0, result.output
    assert "No artifact version here" in result.output
    record = json.loads((tmp_path / "out" / "slateq@recsim-ie.json").read_text())
    assert record["config"]["gamma"] == 0.5 and record["config"]["batch_size"] == 16
    assert {"td_loss", "choice_loss", "mean_q", "gradient_norm", "validation_return"} <= set(record["metrics"])
    assert load_policy(tmp_path / "out" / "slateq@recsim-ie.pt").config == SlateQConfig(gamma=0.5, batch_size=16)
    for knob, said in (("nope=1", "slateq has no knob 'nope'"), ("gamma=fast", "gamma takes a float"),
                       ("gamma", "expected name=value")):
        refused = runner.invoke(app, [*base, "--set", knob])
        assert refused.exit_code != 0 and said in refused.output, refused.output
    assert parse_overrides("kgdqn", ["khop_filter=false", "updates_per_step=2"]) == {
        "khop_filter": False, "updates_per_step": 2}
    get_settings.cache_clear()


@pytest.mark.parametrize("grad", [False, True])
def test_scores_are_the_same_whether_rows_are_gathered_or_the_table_is_scored(
        grad: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulator's candidates are its whole catalogue: policies then score the table once (nets.covers_table)."""
    import torch

    from graphrec.training.rl import kgdqn, nets
    from graphrec.training.rl.nets import PolicyInputs, score_action

    rng = np.random.default_rng(0)
    policy = kgdqn.KGDQNPolicy(rng.random((40, 8), dtype=np.float32), rng.random(40, dtype=np.float32),
                               KGDQNConfig(khop_filter=False), (rng.random((40, 5)) > 0.6).astype(np.float32))
    torch.nn.init.normal_(policy.advantage[-1].weight)
    inputs = PolicyInputs(torch.randn(6, 8), torch.randint(-1, 40, (6, 10)), torch.randint(-1, 40, (6, 40)))
    action = torch.randn(6, 9)
    policy.train(grad)
    with torch.set_grad_enabled(grad):
        table_scores = policy.q_values(inputs), score_action(action, policy.items, inputs.candidate_rows)
        monkeypatch.setattr(nets, "covers_table", lambda *_: False)
        monkeypatch.setattr(kgdqn, "covers_table", lambda *_: False)
        gathered = policy.q_values(inputs), score_action(action, policy.items, inputs.candidate_rows)
    for ours, theirs in zip(table_scores, gathered, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
