"""Evaluation protocols: how a frame of interactions (original ids) is cut into train, validation and test.

ms        Microsoft Recommenders' MovieLens benchmark: stratified random split, 75/25, seed 42, stratified per
          user (``python_stratified_split``'s default, which produced the anchor numbers) or per item; every
          test row is relevant whatever its rating.
recbole   RecBole-GNN: ratings >= 3 kept, each user's interactions shuffled and cut 8:1:1.
temporal  each user's latest interactions (by timestamp) are the test set.

Validation is always carved from the training part with the same rule, so nothing about the test set can
influence a hyper-parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import numpy as np
import pandas as pd

from graphrec.training.names import Protocol

PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)


@dataclass
class Split:
    protocol: str
    train: pd.DataFrame
    valid: pd.DataFrame  # carved from train: fit on fit_part, tune on valid
    test: pd.DataFrame
    fit_part: pd.DataFrame  # train minus valid

    def summary(self) -> str:
        return (f"{self.protocol}: train {len(self.train):,} (fit {len(self.fit_part):,} + valid "
                f"{len(self.valid):,}), test {len(self.test):,} rows")


def stratified_split(frame: pd.DataFrame, ratio: float, seed: int, by: str = "user_id") -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """Per group (user or item), a random ``ratio`` of the rows to the first part, the rest to the second.

    Follows Microsoft Recommenders' ``python_stratified_split``: one uniform draw per row from a NumPy
    RandomState seeded with ``seed``, rows ordered by group then draw, and the first round(ratio * n) of each
    group go to the first part (round half to even, as NumPy rounds).
    """
    draws = np.random.RandomState(seed).rand(len(frame))
    order = np.lexsort((draws, frame[by].to_numpy()))
    ordered = frame.iloc[order]
    group = ordered.groupby(by, sort=False)
    rank = group.cumcount().to_numpy() + 1
    count = group[by].transform("count").to_numpy()
    first = rank <= np.round(ratio * count)
    return ordered[first].sort_index(), ordered[~first].sort_index()


def per_user_fractions(frame: pd.DataFrame, fractions: tuple[float, float, float], seed: int) -> tuple[
        pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """RecBole's random ordering split: each user's rows shuffled, then cut by ``fractions`` (train gets the rest)."""
    draws = np.random.default_rng(seed).random(len(frame))
    order = np.lexsort((draws, frame["user_id"].to_numpy()))
    ordered = frame.iloc[order]
    group = ordered.groupby("user_id", sort=False)
    rank = group.cumcount().to_numpy()
    count = group["user_id"].transform("count").to_numpy()
    n_valid = np.floor(fractions[1] * count).astype(int)
    n_test = np.floor(fractions[2] * count).astype(int)
    n_train = count - n_valid - n_test
    part = np.where(rank < n_train, 0, np.where(rank < n_train + n_valid, 1, 2))
    return tuple(ordered[part == k].sort_index() for k in range(3))  # type: ignore[return-value]


def latest_split(frame: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest ``test_fraction`` of rows (at least one when the user has two or more) as the test."""
    order = np.lexsort((frame["item_id"].to_numpy(), frame["last_ts"].to_numpy(), frame["user_id"].to_numpy()))
    ordered = frame.iloc[order]
    group = ordered.groupby("user_id", sort=False)
    rank = group.cumcount().to_numpy()
    count = group["user_id"].transform("count").to_numpy()
    n_test = np.where(count >= 2, np.maximum(1, np.floor(test_fraction * count)), 0).astype(int)
    test = rank >= count - n_test
    return ordered[~test].sort_index(), ordered[test].sort_index()


def make_split(frame: pd.DataFrame, protocol: Protocol, seed: int = 42, stratify: str = "user") -> Split:
    """Cut ``frame`` (columns user_id, item_id, rating, last_ts at least) by the named protocol."""
    key = "user_id" if stratify == "user" else "item_id"
    frame = frame.reset_index(drop=True)
    if protocol == "ms":
        train, test = stratified_split(frame, 0.75, seed, by=key)
        fit_part, valid = stratified_split(train.reset_index(drop=True), 0.75, seed + 1, by=key)
    elif protocol == "recbole":
        kept = frame[frame["rating"].fillna(0) >= 3] if frame["rating"].notna().any() else frame
        fit_part, valid, test = per_user_fractions(kept.reset_index(drop=True), (0.8, 0.1, 0.1), seed)
        train = pd.concat([fit_part, valid]).sort_index()
    elif protocol == "temporal":
        train, test = latest_split(frame, 0.2)
        fit_part, valid = latest_split(train.reset_index(drop=True), 0.2)
    else:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    return Split(protocol, train.reset_index(drop=True), valid.reset_index(drop=True),
                 test.reset_index(drop=True), fit_part.reset_index(drop=True))


def holdout_split(frame: pd.DataFrame, fraction: float, salt: str = "graphrec-holdout") -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """(fit, holdout): a pair is held out when a hash of (user, item, salt) falls below ``fraction``.

    The assignment of a pair never changes as the graph grows, so a version trained on the fit part of an
    older graph has seen none of the newer graph's holdout pairs: successive artifact versions can be
    compared on one holdout without leakage (the refresh job relies on this).
    """
    keys = frame[["user_id", "item_id"]].astype(str).assign(salt=salt)
    draws = pd.util.hash_pandas_object(keys, index=False).to_numpy() / np.float64(2**64)
    held = draws < fraction
    return frame[~held], frame[held]
