"""FAISS indexes against brute force, and versioned artifacts that refuse to publish when damaged."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from graphrec.training.artifacts import (
    IN_USE_FRESH_S,
    STALE_STAGING_S,
    ArtifactError,
    ArtifactRoot,
    current_version,
    derive_version,
    note_in_use,
    prune,
    publish,
    replace_file,
    verify,
    write_version,
)
from graphrec.training.index import build_index, load_index, recall_at_k, save_index, search


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Vectors around a few hundred centres, like trained item embeddings (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, n // 100), dim))
    return (centres[rng.integers(0, len(centres), n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


def test_exact_index_equals_brute_force() -> None:
    items = clustered(3_000, 32, seed=1)
    queries = np.random.default_rng(2).normal(size=(100, 32)).astype(np.float32)
    index, info = build_index(items, "flat")
    assert info.kind == "flat" and not info.gpu
    _, found = search(index, queries, 10)
    brute = np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :10]
    assert (found == brute).all()


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_recall(kind: str, tmp_path: Path) -> None:
    items = clustered(20_000, 32, seed=3)
    queries = clustered(200, 32, seed=4)
    exact, _ = build_index(items, "flat")
    approximate, info = build_index(items, kind)  # type: ignore[arg-type]
    _, truth = search(exact, queries, 10)
    _, found = search(approximate, queries, 10)
    assert recall_at_k(found, truth) >= 0.95, info
    save_index(approximate, tmp_path / "index.faiss")
    _, again = search(load_index(tmp_path / "index.faiss"), queries, 10)
    assert (again == found).all()


def test_auto_kind_by_size() -> None:
    assert build_index(clustered(500, 8, seed=5))[1].kind == "flat"


def make_version(root: Path, payload: bytes = b"weights") -> Path:
    def write(folder: Path) -> None:
        (folder / "weights.pt").write_bytes(payload)
        (folder / "item_embeddings.npy").write_bytes(b"\x00" * 64)

    return write_version(root, write, {"model": "test"})


def test_publish_switches_the_pointer(tmp_path: Path) -> None:
    first, second = make_version(tmp_path), make_version(tmp_path, b"other")
    assert current_version(tmp_path) is None
    publish(tmp_path, first.name)
    assert current_version(tmp_path) == first.name
    manifest = publish(tmp_path, second.name)
    assert current_version(tmp_path) == second.name and manifest["model"] == "test"
    assert set(json.loads((second / "manifest.json").read_text())["files"]) == {"weights.pt", "item_embeddings.npy"}


@pytest.mark.parametrize("damage", ["corrupt", "missing_file", "missing_manifest"])
def test_damaged_version_is_refused_and_the_old_one_stays(tmp_path: Path, damage: str) -> None:
    good, bad = make_version(tmp_path), make_version(tmp_path)
    publish(tmp_path, good.name)
    if damage == "corrupt":
        (bad / "weights.pt").write_bytes(b"weightz")
    elif damage == "missing_file":
        (bad / "item_embeddings.npy").unlink()
    else:
        (bad / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match=r"corrupt|partial"):
        publish(tmp_path, bad.name)
    assert current_version(tmp_path) == good.name
    verify(good)


def test_failed_write_leaves_no_version(tmp_path: Path) -> None:
    def write(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_version(tmp_path, write, {})
    assert list((tmp_path / "versions").iterdir()) == []


def test_a_derived_version_adds_files_and_leaves_its_base_as_it_was(tmp_path: Path) -> None:
    base = make_version(tmp_path)
    publish(tmp_path, base.name)
    before = {path.name: path.read_bytes() for path in base.iterdir()}

    def add(folder: Path) -> None:
        replace_file(folder / "weights.pt", lambda path: path.write_bytes(b"retrained"))  # shared by a hard link
        (folder / "policies").mkdir()
        (folder / "policies" / "ppo.pt").write_bytes(b"policy")

    derived = derive_version(base, add, {"policy_added": "ppo"})
    assert {path.name: path.read_bytes() for path in base.iterdir()} == before  # the published set is untouched
    manifest = publish(tmp_path, derived.name)  # and the new one verifies whole
    assert manifest["derived_from"] == base.name and manifest["model"] == "test" and manifest["version"] == derived.name
    assert set(manifest["files"]) == {"weights.pt", "item_embeddings.npy", "policies/ppo.pt"}
    assert (derived / "weights.pt").read_bytes() == b"retrained"
    assert (derived / "item_embeddings.npy").stat().st_ino == (base / "item_embeddings.npy").stat().st_ino
    with pytest.raises(ArtifactError, match="corrupt"):  # a damaged base is not copied into a new version
        (base / "weights.pt").write_bytes(b"weightz")
        derive_version(base, add, {})


def test_pruning_keeps_the_newest_the_current_and_the_served_versions(tmp_path: Path) -> None:
    versions = [make_version(tmp_path) for _ in range(6)]
    publish(tmp_path, versions[1].name)  # an old version can be the current one (a rollback)
    note_in_use(tmp_path, "replica-a", versions[0].name)
    note_in_use(tmp_path, "replica-b", versions[2].name)
    stale = ArtifactRoot(tmp_path).in_use / "replica-b"
    os.utime(stale, (time.time() - 2 * IN_USE_FRESH_S,) * 2)  # a replica that died without withdrawing it
    killed = tmp_path / "versions" / ".staging-killed"
    killed.mkdir()
    os.utime(killed, (time.time() - 2 * STALE_STAGING_S,) * 2)
    running = tmp_path / "versions" / ".staging-running"
    running.mkdir()
    assert prune(tmp_path, keep=2) == [versions[2].name, versions[3].name]
    left = {p.name for p in (tmp_path / "versions").iterdir()}
    assert left == {versions[0].name, versions[1].name, versions[4].name, versions[5].name, ".staging-running"}
    note_in_use(tmp_path, "replica-a", None)
    assert prune(tmp_path, keep=2) == [versions[0].name]
    verify(versions[1])  # the current one is whole


def test_ivfpq_stores_under_a_quarter_of_flat_and_its_candidates_hold_the_neighbours(tmp_path: Path) -> None:
    items = clustered(20_000, 32, seed=3)
    queries = clustered(200, 32, seed=4)
    exact, flat_info = build_index(items, "flat")
    compressed, info = build_index(items, "ivfpq")
    assert info.kind == "ivfpq" and info.bytes_per_item < flat_info.bytes_per_item / 4
    _, truth = search(exact, queries, 10)
    _, found = search(compressed, queries, 10)
    assert recall_at_k(found, truth) >= 0.2  # the codes alone order near neighbours roughly (random: 0.0005)
    # The service scores FAISS's candidates with the exact vectors: the top 100 must hold the true top 10.
    _, wide = search(compressed, queries, 100)
    exact_scores = np.einsum("qd,qkd->qk", queries, items[wide])
    rescored = np.take_along_axis(wide, np.argsort(-exact_scores, axis=1)[:, :10], axis=1)
    assert recall_at_k(rescored, truth) >= 0.95
    save_index(compressed, tmp_path / "index.faiss")
    _, again = search(load_index(tmp_path / "index.faiss"), queries, 10)
    assert (again == found).all()
