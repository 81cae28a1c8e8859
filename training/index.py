"""FAISS indexes of item embeddings for maximum inner product search.

kind "flat": exact inner product, the default and the reference. "ivf": an inverted file over k-means cells
(nlist ~ 4 sqrt(n)), searching ``nprobe`` cells. "ivfpq": the same cells (at most 4,096) holding product-quantised
codes (Jegou et al. 2011) of dim/4 bytes per item instead of 4 dim bytes, for catalogues whose float32 vectors do
not fit in memory; its k-means and codebooks train on a sample of at most 64 items per cell. "hnsw": a navigable
small-world graph. "auto" picks flat up to 50,000 items and IVF above. The index is built on the GPU when faiss
sees one (faiss-gpu), on the CPU otherwise; it is always saved in CPU form so any machine can load it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from graphrec.training.names import IndexKind

log = logging.getLogger(__name__)
FLAT_LIMIT = 50_000
PQ_MAX_CELLS = 4_096
PQ_TRAIN_PER_CELL = 64


@dataclass
class IndexInfo:
    kind: str
    items: int
    dim: int
    seconds: float
    gpu: bool
    nlist: int = 0
    nprobe: int = 0
    bytes_per_item: int = 0


def gpu_count() -> int:
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def build_index(vectors: np.ndarray, kind: IndexKind = "auto", *, nprobe: int | None = None,
                use_gpu: bool | None = None, seed: int = 42) -> tuple[faiss.Index, IndexInfo]:
    """An inner-product index over ``vectors`` (rows are items)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if kind == "auto":
        kind = "flat" if n <= FLAT_LIMIT else "ivf"
    gpu = gpu_count() > 0 if use_gpu is None else use_gpu
    started = time.perf_counter()
    nlist = 0
    if kind == "flat":
        index: faiss.Index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        nlist = max(1, min(n // 39, int(4 * math.sqrt(n))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.nprobe = nprobe or max(1, nlist // 16)
    elif kind == "ivfpq":
        nlist = max(1, min(n // 39, int(4 * math.sqrt(n)), PQ_MAX_CELLS))
        subquantizers = max(d for d in range(1, dim // 4 + 1) if dim % d == 0)  # dim/4 one-byte codes
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, subquantizers, 8, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.nprobe = nprobe or max(1, nlist // 16)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 128
        index.hnsw.efSearch = 256
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    if gpu and kind != "hnsw":
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    if not index.is_trained:
        sample = vectors
        if kind == "ivfpq" and n > PQ_TRAIN_PER_CELL * nlist:
            rows = np.random.default_rng(seed).choice(n, PQ_TRAIN_PER_CELL * nlist, replace=False)
            sample = vectors[np.sort(rows)]
        index.train(sample)
    index.add(vectors)
    if gpu and kind != "hnsw":
        index = faiss.index_gpu_to_cpu(index)
    info = IndexInfo(kind, n, dim, time.perf_counter() - started, gpu and kind != "hnsw", nlist,
                     getattr(index, "nprobe", 0), round(len(faiss.serialize_index(index)) / max(n, 1)))
    log.info("built %s index of %d x %d in %.1f s", kind, n, dim, info.seconds)
    return index, info


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, item indices) of the k best items per query row; -1 where fewer than k exist."""
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def save_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_index(path: Path, *, use_gpu: bool | None = None) -> faiss.Index:
    index = faiss.read_index(str(path))
    if (gpu_count() > 0 if use_gpu is None else use_gpu) and not isinstance(index, faiss.IndexHNSW):
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


def recall_at_k(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k found by the approximate top-k, averaged over queries."""
    found = [len(set(a) & set(e)) / len(e) for a, e in zip(approximate, exact, strict=True)]
    return float(np.mean(found))
