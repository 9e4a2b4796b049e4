"""Clauses, answer kinds and the answer span within a passage."""

from __future__ import annotations

from qa.answer import ANSWER_TYPES, answer_span, answer_types, question_types
from qa.text import clause_spans

PASSAGE = ("横沥的党员队伍不断壮大。截止2010年9月底,全镇共有基层党支部154个,其中“两新”党组织106个。"
           "横沥镇党员队伍不断壮大,平均每年有100多人成为横沥镇党组织的新鲜血液,至2010年9月底,全镇共有党员1,724名,"
           "其中正式党员1681名,预备党员43名,男党员1463名,占党员总数的84%,女党员261名,占16%。")


def kinds(flags: list[bool]) -> set[str]:
    return {name for name, on in zip(ANSWER_TYPES, flags) if on}


def test_clauses_cover_the_text_and_keep_numbers_whole():
    spans = clause_spans(PASSAGE)
    texts = [PASSAGE[s:e] for s, e in spans]
    assert texts[:3] == ["横沥的党员队伍不断壮大。", "截止2010年9月底,", "全镇共有基层党支部154个,"]
    assert "全镇共有党员1,724名," in texts
    assert "".join(texts) == PASSAGE
    assert clause_spans("  开头有空格，结尾也有。  ") == [(2, 8), (8, 13)]
    assert clause_spans("") == [] and clause_spans("，。") == [(0, 2)]


def test_question_kinds_in_chinese_and_english():
    assert kinds(question_types("正式党员有多少名？")) == {"quantity"}
    assert kinds(question_types("How many party members does Hengli town have?")) == {"quantity"}
    assert kinds(question_types("横沥镇的发展历史有多久？")) == {"duration"}
    assert kinds(question_types("镇领导驻村是每周几？")) == {"date"}
    assert kinds(question_types("When was the campaign held?")) == {"date"}
    assert kinds(question_types("共治协会由哪些人组成？")) == set()


def test_clause_kinds():
    assert kinds(answer_types("全镇共有党员1724名,")) >= {"quantity"}
    assert "quantity" in kinds(answer_types("三百名党员"))
    assert "duration" in kinds(answer_types("“千载横沥,"))
    assert "date" in kinds(answer_types("在全面推行“周二驻村”的基础上,"))
    assert kinds(answer_types("党员干部在群众中树立了良好的形象。")) == set()


def test_answer_is_the_short_sentence_around_the_best_clause():
    spans = clause_spans(PASSAGE)
    scores = [1.0 if "基层党支部154个" in PASSAGE[s:e] else 0.0 for s, e in spans]
    answer = answer_span(PASSAGE, spans, scores)
    assert answer.text == "截止2010年9月底,全镇共有基层党支部154个,其中“两新”党组织106个。"
    assert PASSAGE[answer.start:answer.end] == answer.text


def test_a_long_sentence_is_narrowed_to_the_best_clause_and_its_neighbours():
    spans = clause_spans(PASSAGE)
    scores = [1.0 if "预备党员43名" in PASSAGE[s:e] else 0.0 for s, e in spans]
    answer = answer_span(PASSAGE, spans, scores)
    assert answer.text == "其中正式党员1681名,预备党员43名,男党员1463名,"
    assert PASSAGE[answer.start:answer.end] == answer.text


def test_the_narrowed_span_stays_inside_its_sentence():
    spans = clause_spans(PASSAGE)
    last = len(spans) - 1
    answer = answer_span(PASSAGE, spans, [1.0 if i == last else 0.0 for i in range(len(spans))])
    assert answer.text == "女党员261名,占16%。"
    first = next(i for i, (s, e) in enumerate(spans) if PASSAGE[s:e].startswith("横沥镇党员队伍"))
    answer = answer_span(PASSAGE, spans, [1.0 if i == first else 0.0 for i in range(len(spans))])
    assert answer.text == "横沥镇党员队伍不断壮大,平均每年有100多人成为横沥镇党组织的新鲜血液,"
    assert answer_span("", [], []) is None
