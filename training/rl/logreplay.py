"""Log replay, DRR's offline setting: an episode replays one user's interactions that no model was fit on.

Each user's interactions are cut into three parts, at random per user (training.splits.stratified_split,
twice; ``split="temporal"`` cuts by time instead, with latest_split):

    fit    the encoder (LightGCN by default) is trained on these and nothing else
    tune   the targets of the policy-training episodes (their context is the fit part)
    test   the targets of the evaluation episodes (their context is fit + tune)

So the encoder never sees a tune or test label, a policy never sees a test label, and training and
evaluation targets are disjoint interactions. An episode: the state is the context's latest positive items
(newest first); each step the policy picks a slate of ``slate_size`` items from the user's candidates (the
encoder's best ``candidates`` unseen items); each shown item that is a target earns its normalised reward
(rating r -> (r - 3) / 2; Taobao behaviours buy > cart > fav > pv), any other item ``miss_penalty``. Shown
items leave the candidates, and targets with a reward of at least ``positive_reward`` join the state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import gymnasium as gym
import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.graph import behaviours
from graphrec.training.models.registry import model_class
from graphrec.training.models.torch_base import TorchRecommender
from graphrec.training.ranking_metrics import ranking_metrics
from graphrec.training.splits import latest_split, stratified_split
from graphrec.training.topk import top_k
from graphrec.training.train_data import Catalogue, TrainData, build_catalogue, relevance_matrix, train_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogReplayConfig:
    slate_size: int = 10
    steps: int = 5  # slates per episode
    candidates: int = 200  # the encoder's best unseen items: the action space of every policy
    history: int = 10  # positive items the state keeps (DRR's N)
    miss_penalty: float = 0.0  # reward of a shown item the user did not interact with in the replayed part
    positive_reward: float = behaviours.POSITIVE_REWARD  # a target at least this good joins the state
    test_fraction: float = 0.2  # each user's share of interactions: evaluation targets
    tune_fraction: float = 0.25  # share of the rest: policy-training targets
    split: Literal["random", "temporal"] = "random"
    split_seed: int = 42  # the benchmark sets it to each seed: seeds vary the split, the encoder and the policies
    quality_shrinkage: float = 5.0  # pseudo-count pulling an item's mean reward towards 0
    encoder: str = "lightgcn"
    encoder_epochs: int = 300  # upper bound; early stopping on the tune part ends sooner
    # Every row's choice (an RL policy's checkpoint, a baseline's weights) keeps the first slate's NDCG@10 on the
    # episodes it is chosen on within this share of the greedy ranking's there: a row may trade ranking quality
    # for return only that far. None: no guard, for any row.
    ndcg_tolerance: float | None = 0.01


def ndcg_floor(config: LogReplayConfig, greedy_ndcg: float) -> float:
    """The least NDCG@10 a row's choice may have (minus infinity without a guard)."""
    return float("-inf") if config.ndcg_tolerance is None else (1 - config.ndcg_tolerance) * greedy_ndcg


def pair_rewards(interactions: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, item) with its reward (graph.behaviours: the rule the service's state follows too) and
    latest time; an item with several interactions takes the best one's reward."""
    rating = interactions["rating"]
    behaviour = interactions.get("behavior", pd.Series("", index=interactions.index)).fillna("")
    reward = behaviours.rewards(behaviour, rating)
    frame = interactions[["user_id", "item_id", "last_ts"]].assign(reward=reward, rating=rating)
    return frame.groupby(["user_id", "item_id"], sort=False).agg(
        reward=("reward", "max"), rating=("rating", "max"), last_ts=("last_ts", "max")).reset_index()


@dataclass
class Episodes:
    """One episode per user in index space: the arrays every policy and the batched replay read."""

    users: np.ndarray  # (U,) user rows
    history: np.ndarray  # (U, H) item rows of the latest positives, newest first, -1 padded
    candidates: np.ndarray  # (U, C) item rows, the encoder's best first
    rewards: np.ndarray  # (U, C) reward of each candidate if it is a target, else NaN
    relevant: sp.csr_matrix  # (U, items) every target of the user, inside the candidates or not
    seen: sp.csr_matrix  # (U, items) the context: every interaction of the user before the replayed part

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, rows: np.ndarray) -> Episodes:
        return Episodes(self.users[rows], self.history[rows], self.candidates[rows], self.rewards[rows],
                        self.relevant[rows], self.seen[rows])


@dataclass
class ReplayWorld:
    """The encoder's embeddings and the training and evaluation episodes built around them."""

    config: LogReplayConfig
    catalogue: Catalogue
    user_vectors: np.ndarray
    item_vectors: np.ndarray
    item_entities: sp.csr_matrix  # items x KG entities, row-normalised: what KG-aware policies aggregate
    item_quality: np.ndarray  # (items,) shrunk mean reward in the fit part (training.rl.nets.ItemTable)
    train: Episodes
    test: Episodes
    encoder_seconds: float
    fit_data: TrainData | None = None  # what the encoder was fit on: what offline baselines (EASE) fit on too
    split: SplitPairs | None = None  # the fit and tune pairs, for baselines that refit the encoder
    encoder_epochs: int = 0  # the encoder's early-stopping epoch
    simulator: UserSimulator | None = None  # set: the GAN user model answers the slates (training/rl/gan_env.py)

    @property
    def env(self) -> str:
        return "logreplay" if self.simulator is None else "gan"

    def batch(self, episodes: Episodes, seed: int = 0) -> EpisodeBatch:
        return episode_batch(episodes, self.config, self.simulator, seed)


def latest_history(pairs: pd.DataFrame, catalogue: Catalogue, users: np.ndarray, size: int,
                   positive_reward: float) -> np.ndarray:
    positives = pairs[pairs["reward"] >= positive_reward].sort_values("last_ts", ascending=False)
    newest = positives.groupby("user_id", sort=False).head(size)
    history = np.full((len(users), size), -1, dtype=np.int64)
    row = pd.Index(users).get_indexer(catalogue.user_index(newest["user_id"]))
    keep = row >= 0
    rank = newest.groupby("user_id", sort=False).cumcount().to_numpy()
    history[row[keep], rank[keep]] = catalogue.item_index(newest["item_id"])[keep]
    return history


def build_episodes(world_scores: np.ndarray, catalogue: Catalogue, context: pd.DataFrame, targets: pd.DataFrame,
                   config: LogReplayConfig) -> Episodes:
    """Episodes of the users that have targets: candidates are the top items by ``world_scores`` (users x
    items) with the context removed. Users with fewer unseen items than ``config.candidates`` are left out
    (every episode has the same action space)."""
    users = np.sort(np.unique(catalogue.user_index(targets["user_id"])))
    seen = relevance_matrix(catalogue, context)[users]
    enough = catalogue.n_items - seen.getnnz(axis=1) >= config.candidates
    if not enough.all():
        log.info("%d users have fewer than %d unseen items and get no episode", int((~enough).sum()),
                 config.candidates)
        users, seen = users[enough], seen[enough]
    candidates = top_k(world_scores[users], seen, config.candidates)
    target_matrix = sp.csr_matrix(
        (targets["reward"].to_numpy(np.float64) + 10.0,  # shifted so a reward of 0 is still stored
         (catalogue.user_index(targets["user_id"]), catalogue.item_index(targets["item_id"]))),
        shape=(catalogue.n_users, catalogue.n_items))[users]
    dense = np.asarray(target_matrix[np.arange(len(users))[:, None], candidates].todense())
    rewards = np.where(dense > 0, dense - 10.0, np.nan)
    relevant = (target_matrix > 0).astype(np.float32)
    history = latest_history(context, catalogue, users, config.history, config.positive_reward)
    return Episodes(users, history, candidates, rewards, sp.csr_matrix(relevant), sp.csr_matrix(seen))


def item_entity_matrix(catalogue: Catalogue, triples: pd.DataFrame) -> sp.csr_matrix:
    """items x KG entities, each row divided by the item's entity count (a mean over its neighbours)."""
    entities = pd.MultiIndex.from_frame(catalogue.entity_keys[["kind", "id"]])
    columns = entities.get_indexer(pd.MultiIndex.from_frame(triples[["tail_kind", "tail"]])) if len(triples) \
        else np.zeros(0, dtype=np.int64)
    rows = catalogue.item_positions(triples["head"].to_numpy()) if len(triples) else np.zeros(0, dtype=np.int64)
    keep = (rows >= 0) & (columns >= 0)
    matrix = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], columns[keep])),
                           shape=(catalogue.n_items, max(len(entities), 1)))
    degree = np.maximum(np.asarray(matrix.sum(axis=1)).ravel(), 1.0)
    return sp.csr_matrix(sp.diags(1.0 / degree) @ matrix)


def item_quality(catalogue: Catalogue, pairs: pd.DataFrame, shrinkage: float) -> np.ndarray:
    """sum of rewards / (count + shrinkage) per item: its mean reward, pulled towards 0 when it has few."""
    rows = catalogue.item_index(pairs["item_id"])
    total = np.bincount(rows, weights=pairs["reward"].to_numpy(np.float64), minlength=catalogue.n_items)
    count = np.bincount(rows, minlength=catalogue.n_items)
    return (total / (count + shrinkage)).astype(np.float32)


def split_parts(pairs: pd.DataFrame, config: LogReplayConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(fit, tune, test) pairs of ``config``'s split: what every model of a world, and the GAN user model that
    simulates its sessions (training.rl.gan_env), may learn from, and what only evaluation sees."""
    if config.split == "temporal":
        train, test = latest_split(pairs, config.test_fraction)
        fit, tune = latest_split(train.reset_index(drop=True), config.tune_fraction)
    else:
        train, test = stratified_split(pairs, 1 - config.test_fraction, config.split_seed)
        fit, tune = stratified_split(train.reset_index(drop=True), 1 - config.tune_fraction, config.split_seed + 1)
    return fit, tune, test


@dataclass(frozen=True)
class EncoderVectors:
    """A trained encoder's embeddings and training time: what a world needs of it, and what is stored so a
    resumed benchmark rebuilds the very same world."""

    user_vectors: np.ndarray
    item_vectors: np.ndarray
    seconds: float
    epochs: int  # the early-stopping epoch (all epochs run when nothing was held out to stop on)


def train_encoder(config: LogReplayConfig, catalogue: Catalogue, fit_data: TrainData, tune: pd.DataFrame | None,
                  seed: int, epochs: int | None = None) -> EncoderVectors:
    """``config.encoder`` trained on ``fit_data``: early-stopped on ``tune`` (at most config.encoder_epochs),
    or, without ``tune``, for ``epochs``."""
    cls = model_class(config.encoder)
    encoder = cls(**{**cls.grid[0], "epochs": epochs or config.encoder_epochs, "seed": seed})
    assert isinstance(encoder, TorchRecommender)
    encoder.fit(fit_data, None if tune is None else relevance_matrix(catalogue, tune))
    return EncoderVectors(encoder.user_vectors.astype(np.float32), encoder.item_vectors.astype(np.float32),
                          encoder.history.seconds, max(1, encoder.history.best_epoch))


@dataclass(frozen=True)
class SplitPairs:
    """A world's split as (user, item) pairs with rewards, and its knowledge graph: what a baseline that trains
    its own encoder (training.rl.reference_rankers' greedy_refit) learns from."""

    fit: pd.DataFrame
    tune: pd.DataFrame
    triples: pd.DataFrame


def build_world(interactions: pd.DataFrame, items: pd.DataFrame | None, triples: pd.DataFrame,
                config: LogReplayConfig | None = None, seed: int = 42,
                encoder: EncoderVectors | None = None) -> ReplayWorld:
    """Split, train the encoder (seeded by ``seed``; or take ``encoder``, trained on this split before) on the fit
    part with early stopping on the tune part, and build the episodes."""
    config = config or LogReplayConfig()
    pairs = pair_rewards(interactions)
    fit, tune, test = split_parts(pairs, config)
    catalogue = build_catalogue(pairs.assign(count=1), items, triples)
    fit_data = train_data(catalogue, fit.assign(count=1), triples)
    encoder = encoder or train_encoder(config, catalogue, fit_data, tune, seed)
    if encoder.user_vectors.shape[0] != catalogue.n_users or encoder.item_vectors.shape[0] != catalogue.n_items:
        raise ValueError("the stored encoder was trained on another catalogue")
    scores = encoder.user_vectors @ encoder.item_vectors.T
    return ReplayWorld(
        config, catalogue, encoder.user_vectors, encoder.item_vectors,
        item_entity_matrix(catalogue, triples), item_quality(catalogue, fit, config.quality_shrinkage),
        train=build_episodes(scores, catalogue, fit, tune, config),
        test=build_episodes(scores, catalogue, pd.concat([fit, tune]), test, config),
        encoder_seconds=encoder.seconds, fit_data=fit_data, split=SplitPairs(fit, tune, triples),
        encoder_epochs=encoder.epochs)


def slate_from_scores(scores: np.ndarray, available: np.ndarray, k: int) -> np.ndarray:
    """(B, k) candidate positions: the k best-scored available candidates per row, best first."""
    masked = np.where(available, scores, -np.inf)
    part = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(masked, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def check_slate(available: np.ndarray, slate: np.ndarray) -> None:
    ordered = np.sort(slate, axis=1)
    if not available[np.arange(len(slate))[:, None], slate].all() or (ordered[:, 1:] == ordered[:, :-1]).any():
        raise ValueError("a slate repeats an item or shows one already shown in this episode")


class EpisodeBatch:
    """Many users' episodes stepped together (what training and evaluation use): the state and what is still
    available. Subclasses decide who answers a slate; LogReplayEnv is one episode behind the gymnasium API."""

    def __init__(self, episodes: Episodes, config: LogReplayConfig) -> None:
        self.episodes = episodes
        self.config = config
        self.history = episodes.history.copy()
        self.available = np.ones(episodes.candidates.shape, dtype=bool)
        self.steps_taken = 0

    @property
    def done(self) -> bool:
        return self.steps_taken >= self.config.steps

    def step(self, slate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Show slate (B, k) of candidate positions; returns (reward per user, per-item rewards (B, k) with
        NaN for the items the user did not take)."""
        raise NotImplementedError

    def join_state(self, row: int, items: np.ndarray) -> None:
        """``items`` (candidate item rows, the first counted newest) join the row's state, newest first."""
        self.history[row] = np.concatenate([items, self.history[row]])[: self.history.shape[1]]


class ReplayBatch(EpisodeBatch):
    """Slates answered by the logs: the replayed part's targets."""

    def step(self, slate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_slate(self.available, slate)
        rows = np.arange(len(slate))[:, None]
        item_rewards = self.episodes.rewards[rows, slate]
        hit = ~np.isnan(item_rewards)
        reward = np.where(hit, item_rewards, self.config.miss_penalty).sum(axis=1)
        self.available[rows, slate] = False
        # Positives join the state newest first; within a slate the best-ranked counts as newest.
        liked = hit & (np.nan_to_num(item_rewards, nan=-np.inf) >= self.config.positive_reward)
        for row in np.flatnonzero(liked.any(axis=1)):
            self.join_state(row, self.episodes.candidates[row, slate[row][liked[row]]])
        self.steps_taken += 1
        return reward.astype(np.float64), item_rewards


class UserSimulator(Protocol):
    """Who answers slates instead of the logs (training.rl.gan_env's GAN user model)."""

    def batch(self, episodes: Episodes, config: LogReplayConfig, seed: int) -> EpisodeBatch: ...


def episode_batch(episodes: Episodes, config: LogReplayConfig, simulator: UserSimulator | None,
                  seed: int = 0) -> EpisodeBatch:
    """The episodes stepped together: replayed from the logs, or simulated by ``simulator`` (``seed`` draws the
    user model's choices)."""
    if simulator is None:
        return ReplayBatch(episodes, config)
    return simulator.batch(episodes, config, seed)


class LogReplayEnv(gym.Env[dict, np.ndarray]):
    """One user's episode at a time: a random one, or the one given as options={"user": i}; with a
    ``simulator``, a session simulated by the GAN user model."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, episodes: Episodes, n_items: int, config: LogReplayConfig | None = None,
                 simulator: UserSimulator | None = None) -> None:
        self.episodes = episodes
        self.config = config or LogReplayConfig()
        self.simulator = simulator  # set: the GAN user model answers instead of the logs
        size = episodes.candidates.shape[1]
        self.observation_space = gym.spaces.Dict({
            "history": gym.spaces.Box(-1, n_items - 1, shape=(self.config.history,), dtype=np.int64),
            "available": gym.spaces.MultiBinary(size)})
        self.action_space = gym.spaces.MultiDiscrete(np.full(self.config.slate_size, size))
        self._batch: EpisodeBatch | None = None

    def _observation(self) -> dict:
        assert self._batch is not None
        return {"history": self._batch.history[0].copy(), "available": self._batch.available[0].astype(np.int8)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        user = (options or {}).get("user")
        if user is None:  # drawn from the env's generator, so a seed fixes the episode
            user = int(self.np_random.integers(len(self.episodes)))
        # The user model's choices are drawn from the env's generator too (a replay draws nothing more).
        seed = 0 if self.simulator is None else int(self.np_random.integers(2**31))
        self._batch = episode_batch(self.episodes.subset(np.array([user])), self.config, self.simulator, seed)
        return self._observation(), {"user": int(self.episodes.users[user])}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        if self._batch is None:
            raise RuntimeError("call reset() before step()")
        # Positions repeated or already shown are misses (the user sees nothing new), not errors: random
        # actions from the action space are valid actions.
        slate = np.asarray(action, dtype=np.int64).ravel()
        _, first = np.unique(slate, return_index=True)
        fresh = np.zeros(len(slate), dtype=bool)
        fresh[first] = True
        fresh &= self._batch.available[0, slate]
        reward, item_rewards = self._batch.step(slate[fresh].reshape(1, -1))
        total = float(reward[0]) + self.config.miss_penalty * int((~fresh).sum())
        return self._observation(), total, self._batch.done, False, {"hits": int((~np.isnan(item_rewards)).sum())}


def first_slate_metrics(episodes: Episodes, slate: np.ndarray, k: int = 10) -> dict[str, float]:
    """precision@k and NDCG@k of the first slate against all of the user's targets (binary relevance)."""
    top = np.take_along_axis(episodes.candidates, slate[:, :k], axis=1)
    return ranking_metrics(top, episodes.relevant.tocsr(), k) if top.shape[1] >= k else {}
