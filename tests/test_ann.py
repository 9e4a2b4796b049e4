"""The index choice by size and budget, and the approximate indexes' recall and id handling."""

from __future__ import annotations

import numpy as np
import pytest

from qa.core.errors import QAError
from qa.index.ann import FLAT_MAX_FLOATS, IndexChoice, choose_faiss_index, make_faiss_index
from qa.index.faiss_store import FaissVectors

DIM = 384


def test_small_collections_are_exact():
    for n in (0, 1, 1_000, FLAT_MAX_FLOATS // DIM):
        assert choose_faiss_index(n, DIM).kind == "flat"


def test_large_collections_get_ivf_sized_from_n():
    mid, big = choose_faiss_index(100_000, DIM), choose_faiss_index(1_000_000, DIM)
    assert mid.kind == big.kind == "ivf-sq8"
    assert mid.nlist < big.nlist
    assert 0 < big.nprobe < big.nlist
    assert big.memory_bytes(1_000_000) < 1 << 30  # 1M passages in well under a GiB


def test_memory_budget_moves_down_to_smaller_codes():
    n = 1_000_000
    sq8 = choose_faiss_index(n, DIM, memory_budget=1 << 30)
    assert sq8.kind == "ivf-sq8"
    pq = choose_faiss_index(n, DIM, memory_budget=sq8.memory_bytes(n) - 1)
    assert pq.kind == "ivf-pq" and DIM % pq.pq_m == 0
    assert pq.memory_bytes(n) < sq8.memory_bytes(n)
    with pytest.raises(QAError, match="QA_INDEX_MEMORY_MB"):
        choose_faiss_index(n, DIM, memory_budget=1 << 20)


def test_flat_is_kept_under_the_size_limit_only_if_it_fits_the_budget():
    n = 20_000
    assert choose_faiss_index(n, DIM).kind == "flat"
    assert choose_faiss_index(n, DIM, memory_budget=n * DIM * 2).kind == "ivf-sq8"


def test_spec_names_kind_and_parameters():
    assert IndexChoice("flat", 8).spec == "flat"
    assert IndexChoice("ivf-sq8", 8, nlist=64, nprobe=16).spec == "ivf-sq8(nlist=64,nprobe=16)"


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around random centres: the shape of real embeddings, unlike uniform noise."""
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + rng.normal(scale=0.6, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1)[:, :k]


@pytest.mark.parametrize("kind", ["ivf-flat", "ivf-sq8"])
def test_approximate_recall_at_10_against_exact(kind):
    rng = np.random.default_rng(0)
    data = clustered(5_200, 64, 40, rng)
    vectors, queries = data[:5_000], data[5_000:]
    chosen = choose_faiss_index(len(vectors), 64, memory_budget=len(vectors) * 64 * 2)  # too small for flat
    choice = IndexChoice(kind, 64, chosen.nlist, chosen.nprobe)
    store = FaissVectors(64, choice=choice)
    store.add(np.arange(len(vectors)), vectors)
    _, found = store.search(queries, 10)
    truth = exact_top(vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
    assert recall >= 0.95


@pytest.mark.parametrize("kind", ["flat", "ivf-flat", "ivf-sq8", "ivf-pq"])
def test_every_kind_keeps_ids_through_remove_add_and_save(kind, tmp_path):
    rng = np.random.default_rng(1)
    vectors = clustered(2_000, 32, 10, rng)
    ids = np.arange(1_000, 3_000)
    store = FaissVectors(32, choice=IndexChoice(kind, 32, nlist=16, nprobe=16, pq_m=8))
    store.add(ids, vectors)
    store.remove(ids[:500])
    store.add(np.array([99]), vectors[:1])
    store.save(tmp_path / "v.faiss")
    loaded = FaissVectors.load(tmp_path / "v.faiss")
    assert len(loaded) == 1_501
    _, found = loaded.search(vectors[600:601], 1)
    assert found[0][0] == 1_600  # an untouched vector still answers with its own id
    _, found = loaded.search(vectors[:1], 2)
    assert 99 in found[0] and 1_000 not in found[0]  # the removed id is gone, the re-added vector has its new id
    if kind != "flat":
        assert loaded.index.nprobe == 16  # nprobe survives the file


def test_make_faiss_index_matches_the_choice():
    index = make_faiss_index(IndexChoice("ivf-sq8", 16, nlist=8, nprobe=4))
    assert index.nlist == 8 and index.nprobe == 4 and not index.is_trained
