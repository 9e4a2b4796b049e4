"""Which FAISS index to build for a collection: exact while it is fast enough, then IVF sized from the collection.

Every choice keeps passage ids as FAISS ids and supports `add_with_ids` and `remove_ids`: the flat
index through `IndexIDMap2`, the IVF indexes natively (IVF must not sit under an id map, whose
`remove_ids` renumbers ids that IVF keeps). HNSW is not offered: it cannot remove vectors.
The thresholds come from bench/scale.py (see BENCHMARKS.md, "Scale").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa.core.errors import QAError
from qa.core.settings import DEFAULT_INDEX_MEMORY_MB

# ivf-flat is never chosen (ivf-sq8 is twice as fast at 1M, BENCHMARKS.md); it stays buildable for comparison.
Kind = Literal["flat", "ivf-flat", "ivf-sq8", "ivf-pq"]

# Exact search scans every float: past ~10M floats (26k passages of 384 dims) it costs over ~10 ms of CPU a query.
FLAT_MAX_FLOATS = 10_000_000
DEFAULT_MEMORY_BUDGET = DEFAULT_INDEX_MEMORY_MB << 20
ID_BYTES = 8  # IVF stores an int64 id beside every code
TRAIN_POINTS_PER_LIST = 64  # k-means sample per list: enough for stable centroids, keeps training to seconds
MIN_POINTS_PER_LIST = 39  # faiss's k-means wants at least 39 training points per centroid (it warns below)
MIN_LISTS = 8  # with fewer lists the collection is too small to cluster, and exact search over it is cheap


@dataclass(frozen=True)
class IndexChoice:
    """A FAISS index kind and its parameters; `spec` is what the manifest records."""

    kind: Kind
    dim: int
    nlist: int = 0
    nprobe: int = 0
    pq_m: int = 0

    @property
    def spec(self) -> str:
        if self.kind == "flat":
            return "flat"
        extra = f",m={self.pq_m}" if self.kind == "ivf-pq" else ""
        return f"{self.kind}(nlist={self.nlist},nprobe={self.nprobe}{extra})"

    def memory_bytes(self, n: int) -> int:
        """Approximate resident size of the index holding `n` vectors."""
        code = {"flat": 4 * self.dim, "ivf-flat": 4 * self.dim, "ivf-sq8": self.dim, "ivf-pq": self.pq_m}[self.kind]
        return n * (code + ID_BYTES) + self.nlist * self.dim * 4


def choose_faiss_index(n_passages: int, dim: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> IndexChoice:
    """The index for `n_passages` vectors of `dim` floats within `memory_budget` bytes."""
    flat = IndexChoice("flat", dim)
    if n_passages * dim <= FLAT_MAX_FLOATS and flat.memory_bytes(n_passages) <= memory_budget:
        return flat
    # ~sqrt(n) lists of ~sqrt(n) vectors; probing 1/32 of them (at least 16) gave recall@10 0.97 at 1M.
    nlist = min(1 << round(math.log2(math.sqrt(n_passages))), n_passages // MIN_POINTS_PER_LIST)
    if nlist < MIN_LISTS:
        return flat
    nprobe = max(16, nlist // 32)
    choice = IndexChoice("ivf-sq8", dim, nlist, nprobe)
    if choice.memory_bytes(n_passages) <= memory_budget:
        return choice
    pq_m = _pq_subquantizers(dim)
    choice = IndexChoice("ivf-pq", dim, nlist, nprobe, pq_m)
    if choice.memory_bytes(n_passages) > memory_budget:
        raise QAError(
            f"{n_passages} passages need at least {choice.memory_bytes(n_passages) >> 20} MiB of index memory, "
            f"more than the budget of {memory_budget >> 20} MiB; raise QA_INDEX_MEMORY_MB."
        )
    return choice


def _pq_subquantizers(dim: int) -> int:
    """Bytes per vector for PQ: one byte per 4 dimensions, a divisor of dim."""
    m = max(1, dim // 4)
    while dim % m:
        m -= 1
    return m


def make_faiss_index(choice: IndexChoice):
    """An empty inner-product FAISS index for `choice`, taking int64 ids."""
    import faiss

    if choice.kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(choice.dim))
    encoding = {"ivf-flat": "Flat", "ivf-sq8": "SQ8", "ivf-pq": f"PQ{choice.pq_m}"}[choice.kind]
    index = faiss.index_factory(choice.dim, f"IVF{choice.nlist},{encoding}", faiss.METRIC_INNER_PRODUCT)
    index.nprobe = choice.nprobe
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct by passage id, for rescoring candidates
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
    if choice.kind == "ivf-pq":
        index.do_polysemous_training = False  # only serves Hamming pre-filtering, which we do not use; minutes to train
    return index


def index_choice(index, dim: int) -> IndexChoice:
    """The kind and parameters of a FAISS index made by `make_faiss_index` (its inverse)."""
    import faiss

    if isinstance(index, faiss.IndexIDMap2):
        return IndexChoice("flat", dim)
    ivf = faiss.downcast_index(index)
    if isinstance(ivf, faiss.IndexIVFPQ):
        return IndexChoice("ivf-pq", dim, ivf.nlist, ivf.nprobe, ivf.pq.M)
    kind = "ivf-sq8" if isinstance(ivf, faiss.IndexIVFScalarQuantizer) else "ivf-flat"
    return IndexChoice(kind, dim, ivf.nlist, ivf.nprobe)


def train_if_needed(index, vectors: np.ndarray) -> None:
    """Train an IVF index on a fixed-seed sample of the first vectors it is given."""
    if index.is_trained:
        return
    if len(vectors) < index.nlist:
        raise ValueError(f"IVF with {index.nlist} lists needs at least as many training vectors, got {len(vectors)}")
    index.train(np.ascontiguousarray(vectors, dtype=np.float32))
