"""The one call the service makes to an RL policy: one request's candidate scores, from TorchScript traces."""

from __future__ import annotations

import logging
import threading
import warnings

import numpy as np
import torch
from cachetools import LRUCache
from torch import nn

from graphrec.training.rl.nets import CandidatePolicy, PolicyInputs

log = logging.getLogger(__name__)


class _CodeModule(nn.Module):
    """``policy.session_code`` over plain tensors, the signature torch.jit.trace needs."""

    def __init__(self, policy: CandidatePolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, user: torch.Tensor, history_rows: torch.Tensor) -> torch.Tensor:
        return self.policy.session_code(user, history_rows)


class _ScoreModule(_CodeModule):
    """``policy.scores_from_code`` over plain tensors."""

    def forward(self, code: torch.Tensor, user: torch.Tensor, history_rows: torch.Tensor,  # type: ignore[override]
                candidate_rows: torch.Tensor) -> torch.Tensor:
        return self.policy.scores_from_code(code, PolicyInputs(user, history_rows, candidate_rows))


class RequestScorer:
    """One request's scores (a batch of one) from TorchScript traces of the policy, for the service.

    The service scores from several handler threads. An eager forward gives up and retakes the GIL around each
    of its ~100 small ops, and each retake can wait a switch interval (Python's default is 5 ms) behind another
    thread's Python: at 200 requests/s the KG-DQN's p99 went to seconds. A traced graph runs in C++ and takes
    the GIL once per call. A trace records one batch size and no Python branches, so the traces are checked
    against the eager policy on varied histories and candidate counts; if they disagree the eager policy scores
    (``traced`` is False), with a warning.

    The session codes of the last ``cache_size`` (user vector, history) pairs are kept: a session asks again
    and again with the same history until its feedback changes it, and the state network is the larger part
    of the work for KG-DQN. The key is the exact input bytes, so a hit returns what the network would."""

    def __init__(self, policy: CandidatePolicy, history: int, checks: int = 8, cache_size: int = 10_000) -> None:
        policy.eval()
        self.policy = policy
        self.history = history
        self.cache_size = cache_size
        self._codes: LRUCache[bytes, torch.Tensor] = LRUCache(maxsize=cache_size)
        self._codes_lock = threading.Lock()
        rng = np.random.default_rng(0)
        examples = [self._example(rng, filled, count) for filled, count in
                    zip(np.linspace(0, history, checks).astype(int), np.linspace(1, 300, checks).astype(int),
                        strict=True)]
        # eager until the traces are recorded and agree with it
        self.code: nn.Module = _CodeModule(policy)
        self.score: nn.Module = _ScoreModule(policy)
        self.traced = False
        with torch.no_grad(), warnings.catch_warnings():
            # deprecation and tracer warnings: the traces are checked below instead
            warnings.simplefilter("ignore")
            # eager first: what a policy caches while scoring (KG-DQN's item table) enters the trace as a constant
            expected = [policy.scores(PolicyInputs(*example)) for example in examples]
            try:
                session = examples[-1][:2]
                code = torch.jit.trace(self.code, session, check_trace=False)
                score = torch.jit.trace(self.score, (code(*session), *examples[-1]), check_trace=False)
                agree = all(torch.allclose(score(code(*example[:2]), *example), scores, atol=1e-4)
                            for example, scores in zip(examples, expected, strict=True))
            except RuntimeError as error:  # an op the tracer cannot record: slower, still right
                log.warning("the %s policy cannot be traced (%s); scoring eagerly", policy.name, error)
                return
        if agree:
            self.code, self.score, self.traced = code, score, True
        else:
            log.warning("the traced %s policy disagrees with the eager one; scoring eagerly", policy.name)

    @property
    def cached_codes(self) -> int:
        return len(self._codes)

    def _example(self, rng: np.random.Generator, filled: int, count: int) -> tuple[torch.Tensor, ...]:
        items = self.policy.items.table.shape[0] - 1
        history = np.full((1, self.history), -1, dtype=np.int64)
        history[0, :filled] = rng.integers(0, items, filled)
        user = rng.normal(size=(1, self.policy.items.dim)).astype(np.float32)
        return (torch.from_numpy(user), torch.from_numpy(history),
                torch.from_numpy(rng.integers(0, items, (1, count))))

    @torch.no_grad()
    def __call__(self, user: np.ndarray, history_rows: np.ndarray, candidate_rows: np.ndarray) -> np.ndarray:
        """Scores (C,) for one user vector (d,), history rows (H,) newest first and candidate rows (C,)."""
        # Shaped in NumPy and wrapped without copies: every torch op called from Python gives up the GIL once.
        user = np.ascontiguousarray(user[None], dtype=np.float32)
        history_rows = np.ascontiguousarray(history_rows[None], dtype=np.int64)
        session = torch.from_numpy(user), torch.from_numpy(history_rows)
        key = user.tobytes() + history_rows.tobytes()
        with self._codes_lock:
            code = self._codes.get(key)
        if code is None:
            code = self.code(*session)
            if self.cache_size > 0:  # cachetools refuses any item into a cache of size 0
                with self._codes_lock:
                    self._codes[key] = code
        candidates = torch.from_numpy(np.ascontiguousarray(candidate_rows[None], dtype=np.int64))
        return self.score(code, *session, candidates).numpy()[0]
