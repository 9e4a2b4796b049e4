"""Candidate generation against brute force, and the approximate index the size calls for, end to end."""

from __future__ import annotations

import numpy as np
import pytest

from qa.answer.search import candidates, score
from qa.service import Service
from qa.index import ann

QUESTIONS = ["横沥镇有多少名党员？", "四个小园子是什么", "How many villages are there?", "议事阵地在哪里"]


@pytest.mark.parametrize("k", [1, 5, 12])
def test_candidates_hold_the_exact_dense_and_lexical_top_k(service, fake_embedder, k):
    collection = service.open()
    every = collection.vectors.ids()
    for question in QUESTIONS:
        query = fake_embedder.embed([question], "query")[0]
        ids, lexical = candidates(collection, question, query, k)
        exact_cosines = np.sort(collection.cosines(query, every))[::-1][:k]
        dense_ids, dense_scores = collection.dense(query, k)
        np.testing.assert_allclose(dense_scores, exact_cosines, atol=1e-5)  # the k best cosines, by brute force
        bm25 = collection.lexical_index.scores(question)
        lexical_ids, best = collection.lexical(question, k)
        np.testing.assert_allclose(best, np.sort(bm25[bm25 > 0])[::-1][:k], rtol=1e-6)
        assert set(ids) == set(dense_ids) | set(lexical_ids) and list(ids) == sorted(ids)
        np.testing.assert_allclose(lexical[np.searchsorted(ids, lexical_ids)], best)


def test_with_enough_candidates_every_passage_is_scored(service, fake_embedder):
    collection = service.open()
    question = QUESTIONS[0]
    s = score(collection, question, fake_embedder.embed([question], "query")[0], k=collection.manifest.passages)
    assert s.ids.tolist() == collection.vectors.ids().tolist()
    assert sorted(s.clauses.passage_ids.tolist()) == sorted(collection.clause_table[:, 0].tolist())


def write_notes(folder, count: int, first: int = 0) -> None:
    """Notes of eight distinct numbered paragraphs (a few passages each): enough passages for an IVF index."""
    folder.mkdir(exist_ok=True)
    for n in range(first, first + count):
        paragraphs = [f"第{n}号通知第{p}段：横沥镇第{n * 8 + p}号社区新建图书馆{p + n}座，藏书{(n * 8 + p) * 37}册。"
                      for p in range(8)]
        (folder / f"note-{n:03d}.txt").write_text(f"通知{n}\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def test_a_large_collection_gets_ivf_and_answers_through_updates(tmp_path, fake_embedder, monkeypatch):
    monkeypatch.setattr(ann, "FLAT_MAX_FLOATS", 0)  # what past ~26k passages calls for, at a test's size
    data = tmp_path / "data"
    write_notes(data, 130)
    service = Service(data, tmp_path / "index", embedder=fake_embedder)
    report = service.build()
    manifest = service.store.read_manifest()
    assert report.passages == manifest.passages >= 400 and manifest.vector_index.startswith("ivf-sq8(nlist=")
    target = "第17号通知第3段：横沥镇第139号社区新建图书馆20座，藏书5143册。"
    assert target in service.ask(target, top_k=1)[0].text

    write_notes(data, 1, first=130)
    (data / "note-017.txt").unlink()
    report = service.build()
    assert not report.full and service.store.read_manifest().vector_index == manifest.vector_index
    new = "第130号通知第5段：横沥镇第1045号社区新建图书馆135座，藏书38665册。"
    assert new in service.ask(new, top_k=1)[0].text
    assert all(h.document != "note-017.txt" for h in service.ask(target, top_k=10))


def test_an_update_that_outgrows_exact_search_moves_to_ivf(tmp_path, fake_embedder, monkeypatch):
    data = tmp_path / "data"
    write_notes(data, 130)
    service = Service(data, tmp_path / "index", embedder=fake_embedder)
    service.build()
    assert service.store.read_manifest().vector_index == "flat"
    monkeypatch.setattr(ann, "FLAT_MAX_FLOATS", 0)
    write_notes(data, 1, first=130)
    report = service.build()
    assert not report.full and report.embedded < 10  # only the new note was embedded; the vectors moved over
    assert service.store.read_manifest().vector_index.startswith("ivf-sq8")
    target = "第17号通知第3段：横沥镇第139号社区新建图书馆20座，藏书5143册。"
    assert target in service.ask(target, top_k=1)[0].text
