"""The agent and the environment in different processes, talking only through Redis Streams, an append-only
log as Kafka is (the decoupled agent-environment pipeline of RecoGym-style studies).

An environment worker owns gymnasium environments and reads requests from its stream
``<namespace>:env:<worker>``: {"session", "op": reset | step | close, "seed", "action"}. It answers on
``<namespace>:reply:<session>`` with the observation, reward, flags and info. A session is one agent's
environment instance inside the worker, so several agents (each a RemoteEnv with its own session) share
one worker's environments, and an agent can be moved to another worker by naming it. Arrays travel as
dtype, shape and base64 bytes, so observations arrive bit for bit.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import redis


def encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__array__": value.dtype.str, "shape": list(value.shape),
                "data": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()}
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict) and "__array__" in value:
        raw = base64.b64decode(value["data"])
        return np.frombuffer(raw, dtype=np.dtype(value["__array__"])).reshape(value["shape"]).copy()
    if isinstance(value, dict):
        return {key: decode(item) for key, item in value.items()}
    return value


def request_stream(namespace: str, worker: str) -> str:
    return f"{namespace}:env:{worker}"


def reply_stream(namespace: str, session: str) -> str:
    return f"{namespace}:reply:{session}"


class EnvWorker:
    """Serves environments made by ``make_env`` to remote agents until told to stop."""

    def __init__(self, client: redis.Redis, make_env: Callable[[], gym.Env], namespace: str = "graphrec-rl",
                 worker: str = "0") -> None:
        self.client = client
        self.make_env = make_env
        self.namespace = namespace
        self.stream = request_stream(namespace, worker)
        self.envs: dict[str, gym.Env] = {}
        self.last_id = "0"

    def serve(self, block_ms: int = 1000, max_idle: int | None = None) -> None:
        """Handle requests in arrival order; returns after a "stop" request (or ``max_idle`` empty polls)."""
        idle = 0
        while max_idle is None or idle < max_idle:
            batch = self.client.xread({self.stream: self.last_id}, count=100, block=block_ms)
            if not batch:
                idle += 1
                continue
            idle = 0
            for entry_id, fields in batch[0][1]:
                self.last_id = entry_id
                request = json.loads(fields[b"body"])
                if request["op"] == "stop":
                    return
                self.handle(request)

    def handle(self, request: dict[str, Any]) -> None:
        session = request["session"]
        try:
            if request["op"] == "reset":
                env = self.envs.setdefault(session, self.make_env())
                observation, info = env.reset(seed=request.get("seed"), options=request.get("options"))
                reply = {"observation": observation, "info": info}
            elif request["op"] == "step":
                observation, reward, terminated, truncated, info = self.envs[session].step(
                    decode(request["action"]))
                reply = {"observation": observation, "reward": float(reward), "terminated": bool(terminated),
                         "truncated": bool(truncated), "info": info}
            elif request["op"] == "close":
                self.envs.pop(session, None)
                reply = {}
            else:
                reply = {"error": f"unknown op {request['op']!r}"}
        except Exception as error:  # the agent gets the failure instead of waiting forever
            reply = {"error": f"{type(error).__name__}: {error}"}
        self.client.xadd(reply_stream(self.namespace, session), {"body": json.dumps(encode(reply))},
                         maxlen=1000, approximate=True)


class RemoteEnv(gym.Env):
    """The agent's side: a gymnasium Env whose every call is a request on the worker's stream."""

    def __init__(self, client: redis.Redis, observation_space: gym.Space, action_space: gym.Space,
                 namespace: str = "graphrec-rl", worker: str = "0", timeout_s: float = 30.0) -> None:
        self.client = client
        self.observation_space = observation_space
        self.action_space = action_space
        self.namespace = namespace
        self.stream = request_stream(namespace, worker)
        self.session = uuid.uuid4().hex
        self.replies = reply_stream(namespace, self.session)
        self.last_reply = "0"
        self.timeout_ms = int(timeout_s * 1000)

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        self.client.xadd(self.stream, {"body": json.dumps(encode({**request, "session": self.session}))})
        batch = self.client.xread({self.replies: self.last_reply}, count=1, block=self.timeout_ms)
        if not batch:
            raise TimeoutError(f"no reply on {self.replies} within {self.timeout_ms} ms: is an EnvWorker serving "
                               f"{self.stream}?")
        entry_id, fields = batch[0][1][0]
        self.last_reply = entry_id
        reply = decode(json.loads(fields[b"body"]))
        if "error" in reply:
            raise RuntimeError(f"environment worker: {reply['error']}")
        return reply

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        reply = self._call({"op": "reset", "seed": seed, "options": options})
        return reply["observation"], reply["info"]

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        reply = self._call({"op": "step", "action": np.asarray(action) if not np.isscalar(action) else action})
        return reply["observation"], reply["reward"], reply["terminated"], reply["truncated"], reply["info"]

    def close(self) -> None:
        try:
            self._call({"op": "close"})
        finally:
            self.client.delete(self.replies)


def stop_worker(client: redis.Redis, namespace: str = "graphrec-rl", worker: str = "0") -> None:
    client.xadd(request_stream(namespace, worker), {"body": json.dumps({"op": "stop", "session": ""})})
