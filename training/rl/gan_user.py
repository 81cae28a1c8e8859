"""The generative adversarial user model (Chen et al. 2019), built from logs with display sets.

Display sets (training.rl.display_sets): at each step of a user's clicks, the clicked item among items the
candidate generator would have shown beside it, or "no click".

Both players read the history with an LSTM over item embeddings:
    reward (discriminator)  r(s_t, a) = MLP([h_t, e_a, h_t * e_a]); no click scores w . h_t + b
    user model (generator)  phi(a | s_t, A_t) = softmax over the display set and "no click"
Mini-max (Chen et al.'s objective with phi explicit): the reward ascends E_real[r] - E_phi[r] (minus an r^2
penalty that keeps it bounded); the user model ascends E_phi[r] + H(phi) / eta. The user model starts from
maximum likelihood, and the checkpoint with the best validation prec@1 (users carved from training) is kept.

Validation: prec@1 and prec@2 of the user model's ranking of the held-out display sets (is the real choice,
or "no click", first / in the first two), against the same LSTM trained by maximum likelihood only, a
collaborative scorer (item-kNN over the user's earlier clicks), a conditional logistic regression on item
features (log popularity, the item's KG-profile match with the user's history, its shrunk mean rating), the
most popular item of the display set and random scores.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from tqdm import tqdm

from graphrec.training.rl.display_sets import DisplayConfig, DisplayData


def precision_at(scores: np.ndarray, label: np.ndarray, k: int) -> float:
    """Share of display sets whose real choice (label; the last column is "no click") is in the top k."""
    top = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    return float((top == label[..., None]).any(axis=-1).mean())


# -- the two simple user models ------------------------------------------------------------------------------

def popular_in_display(data: DisplayData, mask: np.ndarray) -> np.ndarray:
    """Scores: the item's training popularity; "no click" scores below every item."""
    popularity = data.item_features[:, 0][data.displays[mask]]
    return np.concatenate([popularity, np.full((len(popularity), 1), -1.0)], axis=1)


def history_profiles(data: DisplayData) -> np.ndarray:
    """(U, T, entities): the mean KG profile of each user's clicks before step t."""
    entities = np.asarray(data.item_entities.todense(), dtype=np.float32)
    padded = np.vstack([entities, np.zeros((1, entities.shape[1]), dtype=np.float32)])
    clicked = padded[np.where(data.clicks < 0, len(entities), data.clicks)]
    totals = np.cumsum(clicked, axis=1) - clicked  # before step t
    counts = np.maximum(np.arange(data.clicks.shape[1]), 1)[None, :, None]
    return totals / counts


class LogisticUserModel:
    """Conditional logit over [log popularity, KG-profile match, mean rating] of each shown item, plus a
    learned constant for "no click"; fit by gradient descent on the training steps."""

    def __init__(self, data: DisplayData) -> None:
        self.data = data
        self.profiles = history_profiles(data)
        self.entities = np.asarray(data.item_entities.todense(), dtype=np.float32)
        self.weights = torch.zeros(3, requires_grad=True)
        self.no_click = torch.zeros(1, requires_grad=True)
        self.match_scale = 1.0  # the spread of the profile match on the training steps (set by fit)

    def _match(self, mask: np.ndarray) -> np.ndarray:
        """How well each shown item's entities match the user's profile, (N, D)."""
        return np.einsum("nde,ne->nd", self.entities[self.data.displays[mask]], self.profiles[mask])

    def features(self, mask: np.ndarray, match: np.ndarray | None = None) -> torch.Tensor:
        """The steps' features, the match (``_match(mask)`` unless given) scaled by the training steps' spread,
        never by the scored rows'."""
        match = self._match(mask) if match is None else match
        base = self.data.item_features[self.data.displays[mask]]
        stacked = np.stack([base[..., 0], match / self.match_scale, base[..., 1]], axis=-1)
        return torch.from_numpy(stacked.astype(np.float32))

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        items = features @ self.weights
        return torch.cat([items, self.no_click.expand(len(items), 1)], dim=1)

    def fit(self, mask: np.ndarray, steps: int = 300) -> LogisticUserModel:
        match = self._match(mask)
        self.match_scale = float(match.std()) + 1e-6
        features = self.features(mask, match)
        label = torch.from_numpy(self.data.label[mask])
        optimiser = torch.optim.LBFGS([self.weights, self.no_click], max_iter=steps)

        def closure() -> torch.Tensor:
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(self.scores(features), label)
            loss.backward()
            return loss

        optimiser.step(closure)
        return self

    def predict(self, mask: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.scores(self.features(mask)).numpy()


# -- the adversarial user model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GANConfig:
    dim: int = 32
    hidden: int = 64
    eta: float = 1.0  # the user's rationality: phi = softmax(eta r) at the optimum
    reward_penalty: float = 1e-2
    lr: float = 3e-3
    pretrain_epochs: int = 4  # maximum likelihood warm start of the user model
    adversarial_epochs: int = 3
    users_per_batch: int = 64
    seed: int = 0


LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (B, hidden)


class SequenceScorer(nn.Module):
    """LSTM over the clicked items; scores every item of each step's display set and "no click"."""

    def __init__(self, n_items: int, config: GANConfig) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, config.dim, padding_idx=n_items)
        self.lstm = nn.LSTM(config.dim, config.hidden, batch_first=True)
        self.project = nn.Linear(config.hidden, config.dim)
        self.mlp = nn.Sequential(nn.Linear(3 * config.dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))
        self.no_click = nn.Linear(config.hidden, 1)
        self.pad = n_items

    def forward(self, clicks: torch.Tensor, displays: torch.Tensor) -> torch.Tensor:
        """clicks (B, T), displays (B, T, D) -> scores (B, T, D + 1); step t sees the clicks before t."""
        outputs, _ = self.lstm(self.items(torch.where(clicks < 0, self.pad, clicks)))
        before = torch.cat([torch.zeros_like(outputs[:, :1]), outputs[:, :-1]], dim=1)  # h_{t-1}
        return self._score(before, displays)

    def _score(self, hidden: torch.Tensor, displays: torch.Tensor) -> torch.Tensor:
        """hidden (..., H) after the clicks so far, displays (..., D) -> scores (..., D + 1)."""
        shown = self.items(displays)  # (..., D, dim)
        state = self.project(hidden).unsqueeze(-2).expand_as(shown)
        item_scores = self.mlp(torch.cat([state, shown, state * shown], dim=-1)).squeeze(-1)
        return torch.cat([item_scores, self.no_click(hidden)], dim=-1)

    # One step at a time, for a simulated session (training/rl/gan_env.py): the LSTM state is carried over.
    def initial_state(self, clicks: torch.Tensor) -> LSTMState:
        """(h, c), each (B, H), after each row's clicks (B, T) in time order, -1 padded at the end."""
        lengths = (clicks >= 0).sum(dim=1)
        hidden = torch.zeros(len(clicks), self.lstm.hidden_size)
        cell = torch.zeros_like(hidden)
        some = lengths > 0
        if some.any():
            packed = pack_padded_sequence(self.items(torch.where(clicks[some] < 0, self.pad, clicks[some])),
                                          lengths[some].cpu(), batch_first=True, enforce_sorted=False)
            _, (h, c) = self.lstm(packed)
            hidden[some], cell[some] = h[0], c[0]
        return hidden, cell

    def advance(self, state: LSTMState, items: torch.Tensor) -> LSTMState:
        """The state after each row clicks ``items`` (B,)."""
        _, (h, c) = self.lstm(self.items(items)[:, None], (state[0][None], state[1][None]))
        return h[0], c[0]

    def score_display(self, hidden: torch.Tensor, displays: torch.Tensor) -> torch.Tensor:
        """hidden (B, H), displays (B, D) -> (B, D + 1): every shown item, then "no click"."""
        return self._score(hidden, displays)


@dataclass
class TrainedUserModel:
    generator: SequenceScorer  # the user model: who clicks what
    reward: SequenceScorer  # the discriminator: r(s, a), the reward a simulated session pays
    curve: list[tuple[str, int, float]]  # (phase, epoch, validation prec@1)
    seconds: float

    @property
    def kept(self) -> str:
        """The checkpoint the generator holds: the first epoch of the best validation prec@1."""
        phase, epoch, _ = max(self.curve, key=lambda point: point[2])  # max keeps the first of equals
        return phase if phase == "start" else f"{phase} epoch {epoch}"


def _batches(users: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(users)
    return [order[i:i + size] for i in range(0, len(order), size)]


def _tensors(data: DisplayData, users: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    length = int((data.label[users] >= 0).sum(axis=1).max())
    return (torch.from_numpy(data.clicks[users, :length]), torch.from_numpy(data.displays[users, :length]),
            torch.from_numpy(data.label[users, :length]))


def model_scores(model: SequenceScorer, data: DisplayData, users: np.ndarray) -> np.ndarray:
    """(U, T, D + 1) scores for every step of ``users`` (padding steps included; mask them out)."""
    model.eval()
    out = np.zeros((*data.label[users].shape, data.displays.shape[2] + 1), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(users), 128):
            chunk = users[start:start + 128]
            clicks, displays, _ = _tensors(data, chunk)
            out[start:start + len(chunk), : clicks.shape[1]] = model(clicks, displays).numpy()
    return out


def validation_precision(model: SequenceScorer, data: DisplayData) -> float:
    users = np.flatnonzero(data.validation_users)
    mask = (data.label[users] >= 0) & ~data.test[users]
    return precision_at(model_scores(model, data, users)[mask], data.label[users][mask], 1)


def train_gan_user_model(data: DisplayData, config: GANConfig | None = None) -> TrainedUserModel:
    config = config or GANConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    generator = SequenceScorer(data.n_items, config)
    reward = SequenceScorer(data.n_items, config)
    g_optimiser = torch.optim.Adam(generator.parameters(), lr=config.lr)
    r_optimiser = torch.optim.Adam(reward.parameters(), lr=config.lr)
    training_users = np.flatnonzero(~data.validation_users)
    curve: list[tuple[str, int, float]] = [("start", 0, validation_precision(generator, data))]
    best = (curve[0][2], copy.deepcopy(generator.state_dict()))
    phases = [("mle", e) for e in range(1, config.pretrain_epochs + 1)] + \
        [("adversarial", e) for e in range(1, config.adversarial_epochs + 1)]
    for phase, epoch in tqdm(phases, desc="training the GAN user model", unit="epoch", leave=False, disable=None):
        generator.train()
        reward.train()
        for users in _batches(training_users, config.users_per_batch, rng):
            clicks, displays, label = _tensors(data, users)
            mask = (label >= 0) & ~torch.from_numpy(data.test[users, : label.shape[1]])
            if phase == "mle":
                logits = generator(clicks, displays)[mask]
                loss = nn.functional.cross_entropy(logits, label[mask])
                g_optimiser.zero_grad()
                loss.backward()
                g_optimiser.step()
                continue
            # Reward (discriminator) step: real choices up, the user model's expected choice down.
            with torch.no_grad():
                choice = torch.softmax(generator(clicks, displays)[mask], dim=-1)
            r = reward(clicks, displays)[mask]
            real = r.gather(1, label[mask][:, None]).squeeze(1)
            r_loss = -(real - (choice * r).sum(-1)).mean() + config.reward_penalty * r.pow(2).mean()
            r_optimiser.zero_grad()
            r_loss.backward()
            r_optimiser.step()
            # User model (generator) step: expected reward plus entropy / eta.
            with torch.no_grad():
                r = reward(clicks, displays)[mask]
            policy = torch.log_softmax(generator(clicks, displays)[mask], dim=-1)
            g_loss = -((policy.exp() * r).sum(-1) - (policy.exp() * policy).sum(-1) / config.eta).mean()
            g_optimiser.zero_grad()
            g_loss.backward()
            g_optimiser.step()
        value = validation_precision(generator, data)
        curve.append((phase, epoch, value))
        if value > best[0]:
            best = (value, copy.deepcopy(generator.state_dict()))
    generator.load_state_dict(best[1])
    generator.eval()
    reward.eval()
    return TrainedUserModel(generator, reward, curve, time.perf_counter() - started)


def history_matrix(data: DisplayData, mask: np.ndarray) -> sp.csr_matrix:
    """(steps of ``mask``, items): how often each item was clicked before each step."""
    user, step = np.nonzero(mask)
    lengths = step.astype(np.int64)
    rows = np.repeat(np.arange(len(user)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    items = data.clicks[np.repeat(user, lengths), offsets]
    keep = items >= 0
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], items[keep])),
                         shape=(len(user), data.n_items))


class ItemKNNUserModel:
    """The collaborative scorer: a shown item scores its summed cosine similarity (co-clicks in the training
    steps) to the items the user clicked before; "no click" scores a constant set so that it wins on about
    ``no_click_rate`` of the training steps."""

    def __init__(self, data: DisplayData, no_click_rate: float = DisplayConfig.no_click_rate) -> None:
        self.data = data
        train = (data.clicks >= 0) & ~data.test
        user, step = np.nonzero(train)
        matrix = sp.csr_matrix((np.ones(len(user), dtype=np.float32), (user, data.clicks[user, step])),
                               shape=(len(data.clicks), data.n_items))
        norms = np.sqrt(np.asarray(matrix.sum(axis=0)).ravel()) + 1e-6
        similarity = (matrix.T @ matrix).toarray() / np.outer(norms, norms)
        np.fill_diagonal(similarity, 0.0)
        self.similarity = similarity.astype(np.float32)
        sample = train & (data.label >= 0)
        best = self._item_scores(sample).max(axis=1)
        self.no_click = float(np.quantile(best, no_click_rate))

    def _item_scores(self, mask: np.ndarray) -> np.ndarray:
        history = history_matrix(self.data, mask)
        displays = self.data.displays[mask]
        out = np.zeros(displays.shape, dtype=np.float32)
        for start in range(0, len(displays), 2_000):
            part = slice(start, start + 2_000)
            dense = np.asarray(history[part] @ self.similarity)
            out[part] = np.take_along_axis(dense, displays[part], axis=1)
        return out

    def predict(self, mask: np.ndarray) -> np.ndarray:
        items = self._item_scores(mask)
        return np.concatenate([items, np.full((len(items), 1), self.no_click, dtype=np.float32)], axis=1)


def compare_user_models(data: DisplayData, config: GANConfig | None = None, trained: TrainedUserModel | None = None,
                        mle_only: TrainedUserModel | None = None) -> dict[str, dict[str, Any]]:
    """Held-out prec@1 and prec@2 of the GAN user model (``trained``, else trained here, with the checkpoint
    kept), the same LSTM trained by maximum likelihood only (``mle_only``, else trained here), the collaborative
    and logistic user models, the most popular item and random scores (the floor: 1 / (D + 1) at prec@1 for D
    shown items and "no click"). ``hits@1`` and ``hits@2`` hold every held-out step's outcome, for intervals."""
    config = config or GANConfig()
    users = np.arange(len(data.label))
    held = (data.label >= 0) & data.test
    train_mask = (data.label >= 0) & ~data.test
    label = data.label[held]
    trained = trained or train_gan_user_model(data, config)
    mle_only = mle_only or train_gan_user_model(data, replace(config, adversarial_epochs=0))
    popular = popular_in_display(data, held)
    scores = {"gan": model_scores(trained.generator, data, users)[held],
              "mle_only": model_scores(mle_only.generator, data, users)[held],
              "item_knn": ItemKNNUserModel(data).predict(held),
              "logistic": LogisticUserModel(data).fit(train_mask).predict(held),
              "popular": popular, "random": np.random.default_rng(config.seed).random(popular.shape)}
    results: dict[str, dict[str, Any]] = {}
    for name, values in scores.items():
        top = np.argsort(-values, axis=-1, kind="stable")[:, :2]
        hits = top == label[:, None]
        results[name] = {"prec@1": float(hits[:, 0].mean()), "prec@2": float(hits.any(axis=1).mean()),
                         "hits@1": hits[:, 0], "hits@2": hits.any(axis=1)}
    results["gan"] |= {"train_seconds": trained.seconds, "kept": trained.kept}
    results["mle_only"] |= {"train_seconds": mle_only.seconds, "kept": mle_only.kept}
    return results
