"""What each kind of interaction is worth: one rule for the graph queries' seeds, the service's session state
and RL training's rewards, so a policy is served the same positives it was trained on.

A rating r (1-5) is worth (r - 3) / 2; a behaviour its entry in BEHAVIOUR_REWARDS (Taobao's behaviours in the
order of their intent, buy > cart > fav > pv, and the implicit feedback kinds of the other sources and of the
feedback API). An interaction is positive when
it is worth at least POSITIVE_REWARD: a rating of 4 or more, or one of POSITIVE_BEHAVIOURS. A "rating" row
without a value (a source of bare user-item pairs) is an implicit positive; any other kind is worth nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

POSITIVE_REWARD = 0.5
IMPLICIT_REWARD = 1.0  # a "rating" row without a value: the source records only that the user chose the item
BEHAVIOUR_REWARDS = {
    "buy": 1.0, "purchase": 1.0, "cart": 0.6, "fav": 0.5, "like": 0.5, "click": 0.5, "play": 0.5,
    "listen": 0.5, "view": 0.1, "pv": 0.1, "skip": 0.0,
}
POSITIVE_MIN_RATING = 3.0 + 2.0 * POSITIVE_REWARD
# The ratings a source may hold: the 1-5 scale the rewards assume, with MovieLens' half stars. An ingest refuses
# a rating outside it (it would widen what feedback accepts and reward nonsense).
RATING_SCALE = (0.5, 5.0)
# The kinds positive without a rating value, "rating" among them (an implicit positive): the Cypher queries
# take them as $positive_behaviors and decide a rated interaction by its rating.
POSITIVE_BEHAVIOURS = ("rating", *(kind for kind, value in BEHAVIOUR_REWARDS.items() if value >= POSITIVE_REWARD))


def reward(behaviour: str | None, rating: float | None) -> float:
    """What one interaction is worth."""
    if rating is not None and not math.isnan(rating):
        return (rating - 3.0) / 2.0
    if behaviour == "rating" or not behaviour:
        return IMPLICIT_REWARD
    return BEHAVIOUR_REWARDS.get(behaviour, 0.0)


def rewards(behaviour: pd.Series, rating: pd.Series) -> np.ndarray:
    """``reward`` of each row, vectorised."""
    kinds = behaviour.fillna("").astype(str)
    implicit = kinds.map(BEHAVIOUR_REWARDS).fillna(0.0).where(~kinds.isin(["rating", ""]), IMPLICIT_REWARD)
    return np.where(rating.notna(), (rating.astype(float) - 3.0) / 2.0, implicit.astype(float))


def is_positive(behaviour: str | None, rating: float | None) -> bool:
    return reward(behaviour, rating) >= POSITIVE_REWARD


def query_params() -> dict[str, object]:
    """The positive rule as the Cypher queries take it."""
    return {"min_rating": POSITIVE_MIN_RATING, "positive_behaviors": list(POSITIVE_BEHAVIOURS)}
