"""The reader: windows, the best span, CMRC's measures, training data, and how its readings shape a result."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from qa.answer.reader.data import located, squad_items
from qa.answer.reader.read import MAX_ANSWER_TOKENS, Reading, best_reading
from qa.answer.reader.windows import CLS, MAX_TOKENS, SEP, Encoded, sliding_windows, token_span, window, windows_around
from qa.core.overlap import char_f1, exact_match
from tests.conftest import DATA, PARTY

TEXT = "至2010年9月底,全镇共有党员1724名,其中正式党员1681名。"


def encoded(text: str, per: int = 2) -> Encoded:
    """A stand-in tokenization: one token per `per` characters."""
    spans = [(i, min(i + per, len(text))) for i in range(0, len(text), per)]
    return Encoded(list(range(10, 10 + len(spans))), spans)


def test_a_window_is_the_question_then_the_passage_with_offsets_back_into_it():
    passage = encoded(TEXT)
    w = window([5, 6], passage, 2, 6)
    assert w.ids == [CLS, 5, 6, SEP, SEP, *passage.ids[2:6], SEP] and w.first == 5
    assert w.char_span(w.first, w.first + 3) == (4, 12)


def test_token_span_finds_the_answer_only_when_it_is_whole_in_the_window():
    passage = encoded(TEXT)
    w = window([5], passage, 0, len(passage.ids))
    start = TEXT.index("1724名")
    first, last = token_span(w, start, start + 5)
    a, b = w.char_span(first, last)
    assert a <= start and start + 5 <= b and b - a <= 5 + 2
    assert token_span(window([5], passage, 0, 3), start, start + 5) is None


def test_sliding_windows_cover_every_passage_token_and_fit_the_model():
    passage = encoded(TEXT * 20, per=1)
    windows = sliding_windows(list(range(30)), passage)
    covered = {a for w in windows for a, _ in w.offsets}
    assert covered == {a for a, _ in passage.offsets}
    assert all(len(w.ids) <= MAX_TOKENS for w in windows)


def test_the_window_around_a_clause_holds_it():
    text = TEXT * 30
    passage = encoded(text, per=1)
    start = len(text) // 2
    w = windows_around([1, 2, 3], passage, start, start + 10)
    assert w.offsets[0][0] <= start and start + 10 <= w.offsets[-1][1] and len(w.ids) <= MAX_TOKENS


def test_the_best_reading_is_the_highest_start_plus_end_within_the_passage_and_in_order():
    passage = encoded(TEXT)
    w = window([5], passage, 0, len(passage.ids))
    start, end = np.full(len(w.ids), -10.0), np.zeros(len(w.ids))
    start[0] = end[0] = 1.0  # "no answer" at <s>
    start[w.first + 3], end[w.first + 5] = 4.0, 3.0
    end[w.first + 2] = 9.0  # an end before the best start makes no span with it
    r = best_reading(w, start, end)
    assert (r.start, r.end) == w.char_span(w.first + 3, w.first + 5)
    assert r.score == 7.0 and r.no_answer == 2.0 and r.margin == 5.0


def test_the_best_reading_keeps_answers_short():
    passage = encoded("字" * 200, per=1)
    w = window([5], passage, 0, 150)
    start, end = np.zeros(len(w.ids)), np.zeros(len(w.ids))
    start[w.first], end[w.first + 120] = 5.0, 5.0
    r = best_reading(w, start, end)
    assert r.end - r.start <= MAX_ANSWER_TOKENS


@pytest.mark.parametrize("prediction, golds, em, f1", [
    ("1724名", ["1724名"], 1.0, 1.0),
    ("“1724名”。", ["1724名"], 1.0, 1.0),  # punctuation and spaces aside
    ("玉汝", ["字玉汝"], 0.0, 0.8),  # longest common substring: 2 of 2 predicted, 2 of 3 gold
    ("abc", ["xyz", "ab"], 0.0, 0.8),  # the best of several gold answers
    ("", ["1724名"], 0.0, 0.0),
])
def test_exact_match_and_f1_as_cmrc_2018_counts_them(prediction, golds, em, f1):
    assert exact_match(prediction, golds) == em and char_f1(prediction, golds) == pytest.approx(f1)


def test_training_items_keep_only_answers_found_in_their_passage(tmp_path):
    squad = {"data": [{"paragraphs": [{"context": "陸特和漢斯雷頓開創了歐洲對梵語的研究。", "qas": [
        {"id": "1", "question": "哪一地區？", "answers": [{"text": "歐洲", "answer_start": 10}]},
        {"id": "2", "question": "錯的？", "answers": [{"text": "美洲", "answer_start": 10}]},
        {"id": "3", "question": "偏了？", "answers": [{"text": "梵語", "answer_start": 3}]},
    ]}]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    items = list(squad_items(path, "drcd"))
    assert [i["id"] for i in items] == ["drcd-1", "drcd-3"]  # "美洲" is nowhere in the passage
    assert items[1]["answers"] == [{"text": "梵語", "start": 13}]  # moved to where it is
    simplified = list(squad_items(path, "drcd-simplified", lambda t: t.replace("陸", "陆").replace("歐", "欧")))
    assert simplified[0]["context"].startswith("陆特") and simplified[0]["answers"][0]["text"] == "欧洲"
    assert located("abcabc", "c", 4) == 5 and located("abc", "", 0) is None


# --- How readings shape a result (a fake reader, the fake embedder) ---------------------------------------------

@dataclass
class FakeReader:
    """Reads every passage the same way: a fixed margin, the answer at `phrase` when the passage holds it."""

    margin: float
    phrase: str = "1724名"

    def read(self, question, passages, focus):
        out = []
        for text in passages:
            at = text.find(self.phrase)
            start, end = (at, at + len(self.phrase)) if at >= 0 else (0, 1)
            out.append(Reading(start, end, self.margin, 0.0))
        return out


def reader_service(folders, fake_embedder, monkeypatch, reader):
    from qa.service import Service

    service = Service(*folders, embedder=fake_embedder)
    monkeypatch.setattr(Service, "reader", property(lambda self: reader))
    return service


def test_a_reader_that_finds_no_answer_makes_the_result_not_confident(folders, fake_embedder, monkeypatch):
    import qa.answer.search

    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", -1.0)  # the cosine line always passed
    sure = reader_service(folders, fake_embedder, monkeypatch, FakeReader(margin=5.0)).answer("全镇共有党员多少名？")
    unsure = reader_service(folders, fake_embedder, monkeypatch, FakeReader(margin=-5.0)).answer("全镇共有党员多少名？")
    assert sure.confident is True and unsure.confident is False
    assert {h.relevance for h in unsure.hits} == {"low"} and sure.hits[0].relevance == "high"
    assert "high" not in {h.relevance for h in sure.hits[1:]}  # only the hit the reader read can be "high"
    assert [h.document for h in sure.hits] and [h.text for h in unsure.hits]  # both still show the passages


def test_the_reader_marks_the_exact_answer_of_a_question_asking_for_a_kind(folders, fake_embedder, monkeypatch):
    service = reader_service(folders, fake_embedder, monkeypatch, FakeReader(margin=9.0))
    hit = service.ask("至2010年9月底全镇共有党员多少名？", top_k=1)[0]
    assert "1724名" in hit.text, hit.text
    assert hit.answer.exact.text == "1724名" and hit.text[hit.answer.exact.start:hit.answer.exact.end] == "1724名"
    assert hit.answer.start <= hit.answer.exact.start and hit.answer.exact.end <= hit.answer.end


def test_a_reader_answer_not_of_the_asked_kind_is_neither_exact_nor_high(folders, fake_embedder, monkeypatch):
    import qa.answer.search

    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", -1.0)
    service = reader_service(folders, fake_embedder, monkeypatch, FakeReader(margin=9.0, phrase="100多人"))
    result = service.answer("至2010年9月底全镇共有几个党支部？", top_k=1)  # 个, and the reader says 100多人
    hit = result.hits[0]
    assert "100多人" in hit.text, hit.text
    assert result.confident is True and hit.relevance == "medium"
    assert hit.answer.exact is None or hit.answer.exact.text != "100多人"


def test_a_word_or_a_number_alone_is_never_confident(folders, fake_embedder, monkeypatch):
    import qa.answer.search

    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", -1.0)
    monkeypatch.setattr(qa.answer.search, "CONFIDENT_CROSS_SCRIPT", -1.0)
    service = reader_service(folders, fake_embedder, monkeypatch, FakeReader(margin=9.0))
    for question in ["hi", "ok", "1", "42", "党"]:
        assert service.answer(question).confident is False, question
    assert service.answer("党员").confident is True and service.answer("party members").confident is True


def test_a_question_in_another_script_than_the_passages_keeps_the_cosine_lines(folders, fake_embedder, monkeypatch):
    import qa.answer.search

    monkeypatch.setattr(qa.answer.search, "CONFIDENT_CROSS_SCRIPT", -1.0)
    monkeypatch.setattr(qa.answer.search, "CONFIDENT_SAME_SCRIPT", -1.0)  # the cosine lines always passed
    service = reader_service(folders, fake_embedder, monkeypatch, FakeReader(margin=-9.0))
    assert service.answer("How many party members does the town have?").confident is True  # not read
    assert service.answer("全镇共有党员多少名？").confident is False  # read: no answer found


def test_invisible_characters_alone_are_no_question(folders, fake_embedder):
    from qa import QAError
    from qa.service import Service

    service = Service(*folders, embedder=fake_embedder)
    for question in ["\u3164", "\u200b\u200d", "\u115f\u1160"]:
        with pytest.raises(QAError):
            service.answer(question)


# --- The shipped reader (real model) -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def real_reader():
    from qa.answer.reader.read import Reader
    from qa.embed.convert import default_model_path

    return Reader(default_model_path())


@pytest.mark.slow
def test_the_shipped_reader_finds_the_count_and_says_so(real_reader):
    text = (DATA / PARTY).read_text(encoding="utf-8")
    passage = next(line for line in text.splitlines() if "1724名" in line)
    at = passage.index("1724名")
    found, = real_reader.read("全镇共有多少名党员？", [passage], [(at - 20, at + 10)])
    assert "1724" in passage[found.start:found.end] and found.margin > 0


@pytest.mark.slow
def test_the_shipped_reader_finds_no_answer_to_an_unrelated_question(real_reader):
    text = (DATA / PARTY).read_text(encoding="utf-8")
    passage = next(line for line in text.splitlines() if "1724名" in line)
    found, = real_reader.read("Who won the 2018 World Cup?", [passage], [(0, 40)])
    assert found.margin < 0


@pytest.mark.parametrize("value, on", [(None, True), ("", True), ("on", True), ("1", True), ("off", False),
                                       ("OFF", False), ("no", False)])
def test_qa_reader_turns_the_reader_on_and_off(value, on):
    from qa.core.settings import Settings

    assert Settings.from_env({} if value is None else {"QA_READER": value}).reader is on


def test_a_qa_reader_value_that_is_not_on_or_off_is_one_clear_error():
    from qa import QAError
    from qa.core.settings import Settings

    with pytest.raises(QAError, match="QA_READER must be on or off"):
        Settings.from_env({"QA_READER": "maybe"})


def test_missing_reader_weights_are_one_clear_error(tmp_path):
    from qa import QAError
    from qa.answer.reader.read import Reader

    with pytest.raises(QAError, match="QA_READER=off"):
        Reader(tmp_path, tmp_path / "weights.safetensors")
