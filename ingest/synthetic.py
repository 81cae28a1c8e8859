"""Deterministic synthetic recommender data with a knowledge graph that carries signal.

Each user has a latent taste: a Dirichlet mixture over genres and a few favourite artists. Each item has one
artist, a release year and one to three genres. A user's items are drawn without replacement (Gumbel top-k)
with log-probability

    log p(u, i) = a * log popularity(i) + b * taste_u . genres(i) + c * [artist(i) in favourites(u)] + era(u, i)

so knowledge-graph paths (shared genre, artist, year) and co-user paths (users with similar tastes) both predict
held-out items. Ratings rise with the same affinity. Everything follows from the seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphrec.ingest.frames import Dataset, make_dataset

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


def generate(
    users: int = 1_000,
    items: int = 800,
    interactions: int = 50_000,
    seed: int = 42,
    genres: int = 18,
    artists: int | None = None,
    first_year: int = 1950,
    last_year: int = 2020,
) -> Dataset:
    """Build the synthetic dataset: ``interactions`` distinct (user, item) ratings over ``users`` x ``items``."""
    if min(users, items, interactions) <= 0:
        raise ValueError("users, items and interactions must all be positive")
    if interactions > users * items:
        raise ValueError(f"{interactions} interactions do not fit in {users} users x {items} items")
    if not 1 <= genres <= len(GENRES) * 10:
        raise ValueError(f"genres must be between 1 and {len(GENRES) * 10}")
    rng = np.random.default_rng(seed)
    n_artists = artists if artists is not None else max(1, items // 4)
    genre_names = np.array([GENRES[g % len(GENRES)] + ("" if g < len(GENRES) else f"-{g // len(GENRES)}")
                            for g in range(genres)], dtype=object)

    # Items: artist (Zipf-like sizes), year, 1-3 genres biased towards the artist's main genre.
    artist_weight = 1.0 / np.arange(1, n_artists + 1) ** 0.8
    item_artist = rng.choice(n_artists, size=items, p=artist_weight / artist_weight.sum())
    artist_genre = rng.integers(0, genres, n_artists)
    item_genres = np.zeros((items, genres), dtype=np.float32)
    item_genres[np.arange(items), artist_genre[item_artist]] = 1.0
    extra = rng.integers(0, 3, items)
    for k in range(2):
        has_extra = extra > k
        item_genres[np.flatnonzero(has_extra), rng.integers(0, genres, int(has_extra.sum()))] = 1.0
    item_year = rng.integers(first_year, last_year + 1, items)
    popularity = rng.pareto(1.2, items) + 1.0

    # Users: genre taste, favourite artists, preferred era; activity is long-tailed and sums to `interactions`.
    taste = rng.dirichlet(np.full(genres, 0.3), size=users).astype(np.float32)
    favourite_artists = rng.choice(n_artists, size=(users, 3), p=artist_weight / artist_weight.sum())
    era = rng.integers(first_year, last_year + 1, users)
    per_user = _split_total(rng, interactions, users, items)

    user_ids, item_ids, ratings = [], [], []
    block = max(1, 2_000_000 // items)  # bound memory of the user x item score matrix
    log_pop = np.log(popularity).astype(np.float32)
    for start in range(0, users, block):
        stop = min(users, start + block)
        affinity = taste[start:stop] @ item_genres.T * 4.0
        affinity += (item_artist[None, :] == favourite_artists[start:stop, :, None]).any(axis=1) * 2.0
        affinity -= np.abs(item_year[None, :] - era[start:stop, None]) / 25.0
        logits = 0.7 * log_pop[None, :] + affinity
        keys = logits + rng.gumbel(size=logits.shape).astype(np.float32)
        for row in range(stop - start):
            n = per_user[start + row]
            chosen = np.argpartition(-keys[row], n - 1)[:n]
            user_ids.append(np.full(n, start + row))
            item_ids.append(chosen)
            centred = affinity[row, chosen] - affinity[row].mean()
            ratings.append(np.clip(np.rint(3.2 + centred + rng.normal(0, 0.8, n)), 1, 5))
    user_col = np.concatenate(user_ids) + 1
    item_col = np.concatenate(item_ids) + 1
    timestamps = 880_000_000 + rng.integers(0, 90_000_000, len(user_col))

    interactions_frame = pd.DataFrame({
        "user_id": user_col.astype(np.int64),
        "item_id": item_col.astype(np.int64),
        "rating": np.concatenate(ratings).astype(np.float64),
        "behavior": "rating",
        "count": np.ones(len(user_col), dtype=np.int64),
        "last_ts": timestamps.astype(np.int64),
    })
    item_index = np.arange(items)
    items_frame = pd.DataFrame({"item_id": item_index + 1, "title": [f"Item {i + 1}" for i in item_index]})
    genre_item, genre_col = np.nonzero(item_genres)
    triples = pd.concat([
        pd.DataFrame({"head": item_index + 1, "relation": "BY_ARTIST",
                      "tail": [f"Artist {a + 1}" for a in item_artist], "tail_kind": "Artist"}),
        pd.DataFrame({"head": item_index + 1, "relation": "RELEASED_IN",
                      "tail": item_year.astype(str), "tail_kind": "Year"}),
        pd.DataFrame({"head": genre_item + 1, "relation": "HAS_GENRE",
                      "tail": genre_names[genre_col], "tail_kind": "Genre"}),
    ], ignore_index=True)
    return make_dataset("synthetic", interactions_frame, items_frame, triples)


def _split_total(rng: np.random.Generator, total: int, users: int, items: int) -> np.ndarray:
    """Long-tailed per-user counts, each in [1, items], summing exactly to ``total``."""
    weights = rng.lognormal(0.0, 1.0, users)
    counts = np.clip(np.floor(weights / weights.sum() * total).astype(np.int64), 1, items)
    # Hand out (or take back) the rounding remainder one unit at a time, respecting the bounds.
    remainder = total - int(counts.sum())
    order = np.argsort(-weights)
    while remainder != 0:
        step = 1 if remainder > 0 else -1
        room = (counts < items) if step > 0 else (counts > 1)
        eligible = order[room[order]]
        take = eligible[: abs(remainder)]
        counts[take] += step
        remainder -= step * len(take)
    return counts
