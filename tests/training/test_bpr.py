"""The pieces of the BPR training loop: the symmetric propagation's gradient and the negative sampler."""

from __future__ import annotations

import numpy as np
import torch

from graphrec.ingest.synthetic import generate
from graphrec.training.bpr import KnownPairs, sample_negatives
from graphrec.training.graph_ops import normalized_user_item_adjacency, propagate
from graphrec.training.train_data import build_catalogue, train_data


def test_the_symmetric_propagation_has_the_dense_gradient() -> None:
    data = generate(users=40, items=30, interactions=400, seed=1)
    train = train_data(build_catalogue(data.interactions, data.items, data.triples), data.interactions)
    matrix = normalized_user_item_adjacency(train)
    dense = matrix.to_dense()
    assert torch.allclose(dense, dense.T)
    x = torch.randn(dense.shape[0], 8, requires_grad=True, dtype=torch.float32)
    weights = torch.randn(dense.shape[0], 8)
    (propagate(x, matrix, 3) * weights).sum().backward()
    sparse_grad = x.grad.clone()
    x.grad = None
    layers, total = x, x
    for _ in range(3):
        layers = dense @ layers
        total = total + layers
    ((total / 4) * weights).sum().backward()
    assert torch.allclose(sparse_grad, x.grad, atol=1e-5)


def test_known_pairs_answer_alike_as_a_bitmap_and_as_sorted_keys() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, 500), rng.integers(0, 70, 500)
    bitmap = KnownPairs(users, items, 70)
    KnownPairs.BITMAP_MAX, saved = 0, KnownPairs.BITMAP_MAX
    try:
        searched = KnownPairs(users, items, 70)
    finally:
        KnownPairs.BITMAP_MAX = saved
    assert bitmap.bitmap is not None and searched.bitmap is None
    probe_users, probe_items = rng.integers(0, 60, 2_000), rng.integers(0, 70, 2_000)  # users 50-59 are unknown
    expected = np.array([(u, i) in set(zip(users.tolist(), items.tolist(), strict=True))
                         for u, i in zip(probe_users.tolist(), probe_items.tolist(), strict=True)])
    assert (bitmap.contains(probe_users, probe_items) == expected).all()
    assert (searched.contains(probe_users, probe_items) == expected).all()
    negatives = sample_negatives(rng, users, 70, bitmap)
    assert bitmap.contains(users, negatives).mean() < 0.01
