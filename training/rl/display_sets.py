"""Display sets for the GAN user model (Chen et al. 2019) from logs that hold no impressions.

Each user's interactions in time order are the clicks. At step t the display set is the item clicked plus
``display - 1`` items the user had not touched, drawn the way the service's candidate generator
(serving.request.candidates) would have put them in front of the user:
    kg       items sharing knowledge-graph entities with the user's latest ``kg_seeds`` clicks before t, the
             ``kg_pool`` with the most shared entities (path counts; popularity breaks ties); each shown item
             comes from them with probability ``kg_share``
    popular  the rest by popularity (training counts ^ 0.75), what fills the list for a user without history
So a distractor is often an item close to the user's taste, as a real feed's neighbours of the click would be,
not only a popular stranger. The embedding (FAISS) source is left out: it needs an encoder per split. With
probability ``no_click_rate`` the clicked item is left out and the answer is "no click", an option the user
model always has. A user who touched all but fewer than ``display`` items has no display sets. Each user's
latest ``test_fraction`` of steps are held out (or the pairs given); the models condition on the real history
before each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.training.rl.logreplay import item_entity_matrix, pair_rewards
from graphrec.training.train_data import Catalogue, build_catalogue


@dataclass(frozen=True)
class DisplayConfig:
    display: int = 10
    no_click_rate: float = 0.1
    test_fraction: float = 0.2
    validation_users: float = 0.15
    kg_share: float = 0.5  # chance that a shown distractor comes from the knowledge-graph candidates
    kg_pool: int = 50  # knowledge-graph candidates per step, most shared entities first
    kg_seeds: int = 20  # latest clicks the knowledge-graph candidates start from (the service's max seeds)
    seed: int = 42


@dataclass
class DisplayData:
    """Per-user click sequences (padded) with one display set per step."""

    clicks: np.ndarray  # (U, T) item rows of the real clicks in time order, -1 padded
    displays: np.ndarray  # (U, T, D) item rows of the display set
    label: np.ndarray  # (U, T) position of the real choice in the display set, D for "no click", -1 padding
    test: np.ndarray  # (U, T) True for held-out steps
    validation_users: np.ndarray  # (U,) True for users whose training steps only pick checkpoints
    item_features: np.ndarray  # (items, F) for the logistic regression: log popularity, mean rating
    item_entities: sp.csr_matrix  # items x KG entities (row-normalised)
    catalogue: Catalogue

    @property
    def n_items(self) -> int:
        return self.catalogue.n_items


def kg_candidates(clicks: np.ndarray, entities: np.ndarray, popularity: np.ndarray, touched: np.ndarray,
                  config: DisplayConfig) -> np.ndarray:
    """(T, kg_pool) item rows per step of one user's ``clicks`` (T,): the untouched items sharing the most
    entities with the latest ``kg_seeds`` clicks before the step, -1 where fewer share any (step 0 has none)."""
    steps = len(clicks)
    counts = np.vstack([np.zeros((1, entities.shape[1]), dtype=np.float32), np.cumsum(entities[clicks], axis=0)])
    before = np.arange(steps)
    profile = counts[before] - counts[np.maximum(before - config.kg_seeds, 0)]  # entities of clicks [t - s, t)
    paths = profile @ entities.T + popularity[None, :]  # popularity (< 1) breaks ties between equal path counts
    paths[:, touched] = -1.0
    size = min(config.kg_pool, entities.shape[0])
    pool = np.argpartition(-paths, size - 1, axis=1)[:, :size]
    return np.where(np.take_along_axis(paths, pool, axis=1) >= 1.0, pool, -1)


def draw_distractors(kg_pool: np.ndarray, touched: set[int], probabilities: np.ndarray, config: DisplayConfig,
                     rng: np.random.Generator) -> list[int]:
    """``display`` distinct untouched items: each from ``kg_pool`` (-1 padded) with probability kg_share while
    it lasts, else by ``probabilities`` (popularity)."""
    display, n_items = config.display, len(probabilities)
    pool = [int(i) for i in rng.permutation(kg_pool[kg_pool >= 0])]
    wanted = min(int(rng.binomial(display, config.kg_share)), len(pool))
    chosen = pool[:wanted]
    drawn = rng.choice(n_items, size=4 * display, p=probabilities).tolist()
    for item in dict.fromkeys(drawn):
        if len(chosen) == display:
            break
        if item not in touched and item not in chosen:
            chosen.append(item)
    while len(chosen) < display:  # rare: fill uniformly
        extra = int(rng.integers(n_items))
        if extra not in touched and extra not in chosen:
            chosen.append(extra)
    order = rng.permutation(display)  # the knowledge-graph items are not all first
    return [chosen[i] for i in order]


def build_display_data(interactions: pd.DataFrame, items: pd.DataFrame | None, triples: pd.DataFrame,
                       config: DisplayConfig | None = None, held_out: pd.DataFrame | None = None) -> DisplayData:
    """Display sets from the logs. Held out: each user's latest ``test_fraction`` of steps, or, with
    ``held_out`` (user_id, item_id pairs: a log replay's test part, training.rl.logreplay.split_parts), exactly
    those pairs, placed after the user's other steps so that no training step has one in its history."""
    config = config or DisplayConfig()
    rng = np.random.default_rng(config.seed)
    pairs = pair_rewards(interactions)
    if held_out is None:
        pairs = pairs.sort_values(["user_id", "last_ts", "item_id"], kind="stable")
        held = None
    else:
        keys = pd.MultiIndex.from_frame(held_out[["user_id", "item_id"]])
        pairs = pairs.assign(held=pd.MultiIndex.from_frame(pairs[["user_id", "item_id"]]).isin(keys))
        pairs = pairs.sort_values(["user_id", "held", "last_ts", "item_id"], kind="stable")
        held = pairs["held"].to_numpy()
    catalogue = build_catalogue(pairs.assign(count=1), items, triples)
    users = catalogue.user_index(pairs["user_id"])
    rows = catalogue.item_index(pairs["item_id"])
    step = pairs.groupby("user_id", sort=False).cumcount().to_numpy()
    length = np.bincount(users, minlength=catalogue.n_users)
    clicks = np.full((catalogue.n_users, int(length.max())), -1, dtype=np.int64)
    clicks[users, step] = rows
    test = np.zeros_like(clicks, dtype=bool)
    test[users, step] = step >= np.ceil((1 - config.test_fraction) * length[users]) if held is None else held
    train_counts = np.bincount(rows[~test[users, step]], minlength=catalogue.n_items).astype(np.float64)
    weights = (train_counts + 1.0) ** 0.75
    probabilities = weights / weights.sum()
    item_entities = item_entity_matrix(catalogue, triples)
    entities = (item_entities.toarray() > 0).astype(np.float32)
    popularity = (np.log1p(train_counts) / (np.log1p(train_counts.max()) + 1.0)).astype(np.float32)
    display = config.display
    displays = np.zeros((*clicks.shape, display), dtype=np.int64)
    label = np.full(clicks.shape, -1, dtype=np.int64)
    for user in range(catalogue.n_users):
        sequence = clicks[user, : length[user]]
        touched = set(sequence.tolist())  # never shown as a distractor: the user took it
        if catalogue.n_items - len(touched) < display:
            continue  # too few untouched items to fill a display set: the user has no steps (label -1)
        pools = kg_candidates(sequence, entities, popularity, sequence, config)
        for t in range(length[user]):
            distractors = draw_distractors(pools[t], touched, probabilities, config, rng)
            if rng.random() < config.no_click_rate:
                displays[user, t] = distractors
                label[user, t] = display
            else:
                position = int(rng.integers(display))
                shown = distractors[: display - 1]
                shown.insert(position, int(clicks[user, t]))
                displays[user, t] = shown
                label[user, t] = position
    rated = pairs[~test[users, step]]
    rated_rows = catalogue.item_index(rated["item_id"])
    reward_sum = np.bincount(rated_rows, weights=rated["reward"].to_numpy(np.float64), minlength=catalogue.n_items)
    mean_reward = reward_sum / (train_counts + 5.0)
    features = np.stack([np.log1p(train_counts), mean_reward], axis=1).astype(np.float32)
    validation = rng.random(catalogue.n_users) < config.validation_users
    return DisplayData(clicks, displays, label, test, validation, features, item_entities, catalogue)
