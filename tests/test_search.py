"""Hybrid search with fake embedders: fusion, granularity cues, answer spans, persistence of the lexical index."""

from __future__ import annotations

import numpy as np
import pytest

from qa import QAError, Service
from qa.core.kinds import answer_types
from qa.embed.base import Embedder
from qa.answer.search import CONFIDENT_CROSS_SCRIPT, CONFIDENT_SAME_SCRIPT, confidence_threshold, score, zscore
from qa.index.lexical import LexicalIndex


class ConstantEmbedder(Embedder):
    """Every text gets the same vector: the dense side says nothing, so only the other signals rank."""

    name = "constant-8"
    dim = 8

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        return np.full((len(texts), self.dim), 1 / np.sqrt(self.dim), dtype=np.float32)


def test_zscore_of_a_constant_side_is_zero():
    assert not zscore(np.zeros(5)).any() and not zscore(np.full(3, 2.5)).any()
    z = zscore(np.array([1.0, 2.0, 3.0]))
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9


def test_a_question_with_no_word_in_the_collection_ranks_by_dense_alone(folders, fake_embedder):
    service = Service(*folders, embedder=fake_embedder)
    index = service.open()
    question = "How many party members does Hengli town have?"
    s = score(index, question, fake_embedder.embed([question], "query")[0])
    assert not s.lexical.any()
    assert list(np.argsort(-s.fused, kind="stable")) == list(np.argsort(-s.dense, kind="stable"))


def test_the_lexical_side_ranks_when_dense_cannot_tell(folders):
    service = Service(*folders, embedder=ConstantEmbedder())
    hits = service.ask("议事协商的阵地设在哪里？", top_k=3)
    assert "横沥公益学院" in hits[0].text
    assert hits[0].score > hits[1].score


def test_a_how_many_question_prefers_passages_and_spans_with_numbers(folders):
    service = Service(*folders, embedder=ConstantEmbedder())
    hits = service.ask("How many?", top_k=33)
    with_numbers = [answer_types(h.text)[0] for h in hits]  # ANSWER_TYPES[0] is quantity
    assert 0 < sum(with_numbers) < len(hits)
    assert with_numbers == sorted(with_numbers, reverse=True)  # every passage with a number first
    assert answer_types(hits[0].answer.text)[0]


def test_every_hit_carries_an_answer_span_inside_its_text(folders, fake_embedder):
    service = Service(*folders, embedder=fake_embedder)
    for question in ["全镇共有党员多少名？", "What are the four small gardens?", "镇领导驻村是每周几？"]:
        for hit in service.ask(question, top_k=5):
            a = hit.answer
            assert a is not None and a.text and hit.text[a.start:a.end] == a.text
    best = service.ask("预备党员43名", top_k=1)[0]
    assert "预备党员43名" in best.answer.text


def test_confidence_is_whether_the_best_passage_cosine_reaches_the_line(folders, fake_embedder, monkeypatch):
    import qa.answer.search

    service = Service(*folders, embedder=fake_embedder)
    question = "全镇共有党员多少名？"
    query = fake_embedder.embed([question], "query")[0]
    best = float(service.open().cosines(query, np.arange(service.store.next_id())).max())
    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", best)
    reached = service.answer(question, top_k=2)
    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", best + 1e-3)
    missed = service.answer(question, top_k=2)
    assert reached.confident is True and missed.confident is False
    assert reached.question == question and [h.text for h in reached.hits] == [h.text for h in missed.hits]
    assert len(reached.hits) == 2


def test_the_threshold_is_lower_across_scripts():
    assert confidence_threshold("横沥镇有多少名党员？", "全镇共有党员1724名") == CONFIDENT_SAME_SCRIPT
    assert confidence_threshold("How many party members?", "全镇共有党员1724名") == CONFIDENT_CROSS_SCRIPT
    assert confidence_threshold("Python怎么读取文件？", "全镇共有党员1724名") == CONFIDENT_SAME_SCRIPT
    assert CONFIDENT_CROSS_SCRIPT < CONFIDENT_SAME_SCRIPT


def test_the_lexical_index_is_persisted_with_the_build_and_not_rebuilt_per_query(folders, fake_embedder, monkeypatch):
    data, index = folders
    Service(data, index, embedder=fake_embedder).build()
    build = next(index.glob("build-*"))
    assert (build / "lexical").is_dir() and (build / "clause_vectors.npy").exists() and (build / "clauses.npy").exists()

    def no_rebuild(texts):
        raise AssertionError("the lexical index was rebuilt")

    monkeypatch.setattr(LexicalIndex, "build", staticmethod(no_rebuild))
    hits = Service(data, index, embedder=fake_embedder).ask("议事协商的阵地设在哪里？", top_k=3)
    assert any("横沥公益学院" in h.text for h in hits)


def test_a_new_build_replaces_the_lexical_index_in_step(folders, fake_embedder):
    data, index = folders
    service = Service(data, index, embedder=fake_embedder)
    service.build()
    (data / "extra.txt").write_text("新文档\n横沥镇今年新建了三座图书馆，方便群众读书学习，图书馆周末也开放。\n", encoding="utf-8")
    service.build()
    hits = service.ask("图书馆", top_k=1)
    assert "图书馆" in hits[0].text and hits[0].document == "extra.txt"


def test_a_damaged_lexical_index_is_built_again(folders, fake_embedder):
    data, index = folders
    Service(data, index, embedder=fake_embedder).build()
    build = next(index.glob("build-*"))
    (build / "lexical" / "ids.json").write_text("{not json")
    report = Service(data, index, embedder=fake_embedder).build()
    assert report.built and "lexical/ids.json" in report.reason
    assert Service(data, index, embedder=fake_embedder).ask("党员")


def test_relevance_is_a_fixed_scale_around_the_calibrated_lines():
    from qa.answer.search import RELEVANCE_CROSS_SCRIPT, RELEVANCE_SAME_SCRIPT, relevance

    zh, en, passage = "横沥镇有多少名党员？", "How many party members?", "全镇共有党员1724名"
    medium, high = RELEVANCE_SAME_SCRIPT
    assert relevance(high, zh, passage) == "high"
    assert relevance(medium, zh, passage) == "medium"
    assert relevance(medium - 0.001, zh, passage) == "low"
    assert relevance(RELEVANCE_CROSS_SCRIPT[0], en, passage) == "medium"  # across scripts, the lower lines


def test_hits_are_low_when_nothing_seems_to_answer(folders, fake_embedder, monkeypatch):
    import qa.answer.search

    monkeypatch.setattr(qa.answer.search, "RELEVANCE_SAME_SCRIPT", (-1.0, -1.0))  # every hit would be "high"...
    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", 2.0)  # ...but no passage reaches the line
    result = Service(*folders, embedder=fake_embedder).answer("全镇共有党员多少名？", top_k=3)
    assert result.confident is False and [h.relevance for h in result.hits] == ["low"] * 3
    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", -2.0)
    assert {h.relevance for h in Service(*folders, embedder=fake_embedder).answer("全镇党员队伍的情况", 3).hits} == {"high"}


def test_a_hit_whose_answer_is_not_the_asked_kind_is_at_most_medium(folders, fake_embedder, monkeypatch):
    import qa.answer.search

    monkeypatch.setattr(qa.answer.search, "RELEVANCE_SAME_SCRIPT", (-1.0, -1.0))
    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", -2.0)
    hits = Service(*folders, embedder=fake_embedder).answer("全镇有多少名党员？", top_k=10).hits
    levels = {any(ch.isdigit() for ch in h.answer.text): h.relevance for h in hits}
    assert levels == {True: "high", False: "medium"}
