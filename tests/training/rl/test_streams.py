"""Agent and environment in different processes through Redis Streams give the in-process trajectory."""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.training.rl.bandits import LinUCB, features
from graphrec.training.rl.ctr_env import CTRConfig, CTREnv
from graphrec.training.rl.streams import EnvWorker, RemoteEnv, stop_worker

CONFIG = CTRConfig(steps_per_user=6)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        yield server.url
    finally:
        server.stop()


def serve_ctr(url: str, namespace: str) -> None:
    EnvWorker(redis.Redis.from_url(url), lambda: CTREnv(CONFIG), namespace).serve(max_idle=60)


def play(env: CTREnv | RemoteEnv, users: int, seed: int) -> list[tuple[list[float], int, float]]:
    """LinUCB learning online; the trajectory is every (observation, action, reward)."""
    policy = LinUCB(CONFIG.products, CONFIG.products + 1)
    trajectory = []
    for user in range(users):
        views, _ = env.reset(seed=seed * 1000 + user)
        done = False
        while not done:
            x = features(np.asarray(views))
            arm = int(np.argmax(policy.scores(x)))
            views, reward, done, _, _ = env.step(arm)
            policy.update(x, arm, reward)
            trajectory.append((np.asarray(views).tolist(), arm, float(reward)))
    return trajectory


def test_the_decoupled_environment_gives_the_in_process_trajectory(redis_url: str) -> None:
    namespace = f"rl-{uuid.uuid4().hex[:8]}"
    worker = multiprocessing.get_context("spawn").Process(target=serve_ctr, args=(redis_url, namespace))
    worker.start()
    client = redis.Redis.from_url(redis_url)
    try:
        probe = CTREnv(CONFIG)
        remote = [RemoteEnv(client, probe.observation_space, probe.action_space, namespace) for _ in range(2)]
        local = play(CTREnv(CONFIG), users=15, seed=4)
        assert play(remote[0], users=15, seed=4) == local
        # A second agent shares the worker with its own session and gets its own (here: the same) episodes.
        assert play(remote[1], users=15, seed=4) == local
        assert sum(reward for _, _, reward in local) > 0
        with pytest.raises(RuntimeError, match="not a product index"):
            remote[0].reset(seed=1)
            remote[0].step(99)
        for env in remote:
            env.close()
    finally:
        stop_worker(client, namespace)
        worker.join(timeout=20)
        if worker.is_alive():
            worker.kill()
    assert worker.exitcode == 0
