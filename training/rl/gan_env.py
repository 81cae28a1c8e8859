"""Sessions simulated by the GAN user model (Chen et al. 2019): the environment its policies train in.

The episodes are the log replay's (training/rl/logreplay.py): the same users, states (recent positives),
candidates and slates, so every policy and the greedy baseline run unchanged. What differs is who answers a
slate. Instead of the logged targets, the trained user model (the generator) looks at the slate as a display
set, with the user's real clicks that the episode's context holds as its LSTM history (a training episode's
user has not yet clicked its targets), and picks one item or "no click" by sampling its softmax. The clicked
item pays the chooser's own log-odds of it against "no click", log p(a) - log p(no click): the utility under
which the simulated user chose it (the reward network, trained adversarially, is another model's valuation: the
generator kept is its maximum-likelihood epoch); a slate without a click pays 0. A click joins the user model's
history and the policy's state, and the next slate is answered from there.

The simulator is the environment, trained per split on the parts the split lets models learn from (fit and
tune; split_user_model) and fixed while the policies train; the random choices come from a generator seeded
per batch, so every policy evaluated with one seed meets the same random numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from graphrec.training.rl.display_sets import DisplayData, build_display_data
from graphrec.training.rl.gan_user import TrainedUserModel, train_gan_user_model
from graphrec.training.rl.logreplay import (
    EpisodeBatch,
    Episodes,
    LogReplayConfig,
    ReplayWorld,
    check_slate,
    pair_rewards,
    split_parts,
)

log = logging.getLogger(__name__)
UserModel = tuple[TrainedUserModel, DisplayData]  # the trained user model and the display sets it learned from


def fit_user_model(interactions: pd.DataFrame, items: pd.DataFrame | None, triples: pd.DataFrame,
                   held_out: pd.DataFrame | None = None) -> UserModel:
    """Display sets from the logs and the GAN user model trained on them (training/rl/gan_user.py), without
    ever seeing the ``held_out`` pairs (default: each user's latest steps)."""
    display = build_display_data(interactions, items, triples, held_out=held_out)
    return train_gan_user_model(display), display


def split_user_model(interactions: pd.DataFrame, items: pd.DataFrame | None, triples: pd.DataFrame,
                     config: LogReplayConfig) -> UserModel:
    """The user model of one log-replay split: trained on the split's fit and tune parts only, so the sessions
    it simulates are never answered from what the world's test episodes hold out."""
    _, _, test = split_parts(pair_rewards(interactions), config)
    return fit_user_model(interactions, items, triples, held_out=test)


@dataclass
class UserSimulator:
    """The trained user model and reward network, with the world's rows mapped into their catalogue."""

    model: TrainedUserModel
    clicks: np.ndarray  # (world users, T) display-data item rows of each user's clicks before the held-out part
    item_rows: np.ndarray  # world item row -> display-data item row
    world_rows: np.ndarray  # display-data item row -> world item row (-1: none)

    def context_clicks(self, episodes: Episodes) -> np.ndarray:
        """(B, T) each episode's user's clicks that its context holds (``episodes.seen``), in time order, -1
        padded at the end: a training episode's simulated user has not yet clicked its targets (the tune part),
        a test episode's has clicked everything before the held-out part."""
        rows = self.clicks[episodes.users]
        world = np.where(rows >= 0, self.world_rows[np.maximum(rows, 0)], -1)
        inside = np.zeros(rows.shape, dtype=bool)
        b, t = np.nonzero(world >= 0)
        inside[b, t] = np.asarray(episodes.seen[b, world[b, t]]).ravel() > 0
        order = np.argsort(~inside, axis=1, kind="stable")
        return np.take_along_axis(np.where(inside, rows, -1), order, axis=1)

    @classmethod
    def for_world(cls, model: TrainedUserModel, data: DisplayData, world: ReplayWorld) -> UserSimulator:
        items = data.catalogue.item_positions(world.catalogue.item_ids)
        users = data.catalogue.user_positions(world.catalogue.user_ids)
        if not (items >= 0).any():
            raise ValueError("the user model was built from other data than the world: none of its items is known")
        if (items < 0).any() or (users < 0).any():
            # Items nobody interacted with (a catalogue holds them too) get the model's padding embedding, a
            # neutral item; users without interactions start with no history.
            log.warning("%d items and %d users of the world are unknown to the user model", int((items < 0).sum()),
                        int((users < 0).sum()))
        history = np.where(data.test, -1, data.clicks)  # the held-out steps are the future
        clicks = np.vstack([history, np.full((1, history.shape[1]), -1)])[users]  # row -1: no clicks
        world_rows = np.full(data.n_items + 1, -1)
        world_rows[items[items >= 0]] = np.flatnonzero(items >= 0)
        return cls(model, clicks, np.where(items < 0, data.n_items, items), world_rows)

    def batch(self, episodes: Episodes, config: LogReplayConfig, seed: int) -> SimulatedBatch:
        return SimulatedBatch(self, episodes, config, seed)


class SimulatedBatch(EpisodeBatch):
    """Slates answered by the user model: one click (or none) each, paid by the reward network."""

    def __init__(self, simulator: UserSimulator, episodes: Episodes, config: LogReplayConfig, seed: int) -> None:
        super().__init__(episodes, config)
        self.simulator = simulator
        self.rng = np.random.default_rng(seed)
        clicks = torch.from_numpy(simulator.context_clicks(episodes))
        with torch.no_grad():
            self.user_state = simulator.model.generator.initial_state(clicks)

    def step(self, slate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_slate(self.available, slate)
        rows = np.arange(len(slate))[:, None]
        shown = self.simulator.item_rows[self.episodes.candidates[rows, slate]]  # display-data rows
        model = self.simulator.model
        with torch.no_grad():
            displays = torch.from_numpy(shown)
            choice_scores = model.generator.score_display(self.user_state[0], displays)
        probabilities = torch.softmax(choice_scores, dim=-1).numpy().astype(np.float64)
        draw = self.rng.random((len(slate), 1))
        choice = np.minimum((probabilities.cumsum(axis=1) < draw).sum(axis=1), slate.shape[1])  # k: no click
        clicked = np.flatnonzero(choice < slate.shape[1])
        gain = (choice_scores[:, :-1] - choice_scores[:, -1:]).numpy()  # the chooser's own log-odds
        item_rewards = np.full(slate.shape, np.nan)
        item_rewards[clicked, choice[clicked]] = gain[clicked, choice[clicked]]
        self.available[rows, slate] = False
        if len(clicked):
            picked = torch.from_numpy(shown[clicked, choice[clicked]])
            index = torch.from_numpy(clicked)
            with torch.no_grad():
                h, c = model.generator.advance((self.user_state[0][index], self.user_state[1][index]), picked)
                self.user_state[0][index], self.user_state[1][index] = h, c
            for row in clicked:
                self.join_state(row, self.episodes.candidates[row, slate[row, choice[row]], None])
        self.steps_taken += 1
        return np.nan_to_num(item_rewards, nan=0.0).sum(axis=1), item_rewards
