"""The behaviours an interaction can record, what each is worth, and the one rule for "positive".

One vocabulary for every layer: the ingest adapters accept the behaviours listed here, the feedback API the ones
marked ``feedback``, explanations say each one's ``verb``, and the graph queries' seeds, the service's session state
and RL training's rewards all use ``reward`` and ``is_positive``, so a policy is served the positives it was trained
on.

Worth: a rating r (the 1-5 scale, half stars allowed) is worth (r - 3) / 2; a behaviour without a rating its
``reward`` (Taobao's behaviours in the order of their intent, buy > cart > fav > pv, and the implicit kinds of the
other sources and of the feedback API). A "rating" row without a value (a source of bare user-item pairs) is an
implicit positive; an unknown kind is worth nothing.

Positive: worth at least POSITIVE_REWARD, that is a rating of 4 or more, or a positive behaviour. This is the rule
of sessions, candidate seeds, explanations and rewards. Two other rules exist on purpose, each where its paper
puts it: the embedding encoders (BPR, LightGCN, KGCN) train on every observed pair as an implicit positive, as
those papers do, and the recbole evaluation protocol (training.splits) keeps ratings >= 3, as RecBole-GNN's
published setting does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

POSITIVE_REWARD = 0.5
IMPLICIT_REWARD = 1.0  # a "rating" row without a value: the source records only that the user chose the item
# The ratings a source may hold: the 1-5 scale the rewards assume, with MovieLens' half stars. An ingest refuses
# a rating outside it (it would widen what feedback accepts and reward nonsense).
RATING_SCALE = (0.5, 5.0)
POSITIVE_MIN_RATING = 3.0 + 2.0 * POSITIVE_REWARD


@dataclass(frozen=True)
class Behaviour:
    """One kind of interaction: what it is worth without a rating, how an explanation says it, and whether the
    feedback API takes it."""

    name: str
    reward: float
    verb: str
    feedback: bool = False

    @property
    def positive(self) -> bool:
        return self.reward >= POSITIVE_REWARD


BEHAVIOURS: dict[str, Behaviour] = {behaviour.name: behaviour for behaviour in (
    Behaviour("rating", IMPLICIT_REWARD, "rated", feedback=True),
    Behaviour("buy", 1.0, "bought"),
    Behaviour("purchase", 1.0, "bought", feedback=True),
    Behaviour("cart", 0.6, "added to cart", feedback=True),
    Behaviour("fav", 0.5, "favourited", feedback=True),
    Behaviour("like", 0.5, "liked"),
    Behaviour("click", 0.5, "clicked", feedback=True),
    Behaviour("play", 0.5, "played"),
    Behaviour("listen", 0.5, "listened to"),
    Behaviour("view", 0.1, "viewed"),
    Behaviour("pv", 0.1, "viewed"),
    Behaviour("skip", 0.0, "skipped", feedback=True),
)}
FEEDBACK_EVENTS = tuple(name for name, behaviour in BEHAVIOURS.items() if behaviour.feedback)
# The kinds positive without a rating value, "rating" among them (an implicit positive): the Cypher queries take
# them as $positive_behaviors and decide a rated interaction by its rating.
POSITIVE_BEHAVIOURS = tuple(name for name, behaviour in BEHAVIOURS.items() if behaviour.positive)


def known(*names: str) -> frozenset[str]:
    """``names`` as a source's vocabulary, each checked against BEHAVIOURS."""
    unknown = set(names) - set(BEHAVIOURS)
    assert not unknown, f"behaviours not in graph.behaviours.BEHAVIOURS: {sorted(unknown)}"
    return frozenset(names)


def reward(behaviour: str | None, rating: float | None) -> float:
    """What one interaction is worth."""
    if rating is not None and not math.isnan(rating):
        return (rating - 3.0) / 2.0
    if not behaviour:
        return IMPLICIT_REWARD
    found = BEHAVIOURS.get(behaviour)
    return found.reward if found is not None else 0.0


def rewards(behaviour: pd.Series, rating: pd.Series) -> np.ndarray:
    """``reward`` of each row, vectorised."""
    kinds = behaviour.fillna("").astype(str)
    values = {name: found.reward for name, found in BEHAVIOURS.items()} | {"": IMPLICIT_REWARD}
    implicit = kinds.map(values).fillna(0.0)
    return np.where(rating.notna(), (rating.astype(float) - 3.0) / 2.0, implicit.astype(float))


def is_positive(behaviour: str | None, rating: float | None) -> bool:
    return reward(behaviour, rating) >= POSITIVE_REWARD


def verb(behaviour: str | None) -> str:
    found = BEHAVIOURS.get(str(behaviour))
    return found.verb if found is not None else "interacted with"


def query_params() -> dict[str, object]:
    """The positive rule as the Cypher queries take it."""
    return {"min_rating": POSITIVE_MIN_RATING, "positive_behaviors": list(POSITIVE_BEHAVIOURS)}
