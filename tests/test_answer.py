"""Clauses, answer kinds and the answer span within a passage."""

from __future__ import annotations

import json
from dataclasses import asdict

from qa.answer.span import (
    Answer,
    Phrase,
    _gaps,
    answer_scores,
    answer_span,
    clause_features,
    common_words_weigh_less,
    question_cue,
)
from qa.core.kinds import ANSWER_TYPES, KINDS, answer_types, kinds_asked, kinds_given, question_types
from qa.core.text import clause_spans

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


# --- Choosing the clause that answers, not the one that restates the question -------------------

STORY = ("去年七月,镇里开展“情系群众周”活动,取得了良好的效果。镇府机关和各村300多名党员干部分成91个工作小组,"
         "走访了1575户家庭。活动受到群众欢迎。")


def spans_and_scores(text: str, best: str) -> tuple[list[tuple[int, int]], list[float]]:
    """The clauses of text, the one holding `best` scoring highest (as a search would when it restates the question)."""
    spans = clause_spans(text)
    return spans, [0.9 if best in text[s:e] else 0.85 for s, e in spans]


def test_question_cue_keeps_content_words_and_weighs_the_asked_about_words_more():
    cue = question_cue("横沥镇的党员干部有多少名？")
    terms = dict(cue.terms)
    assert "党员" in terms and "横沥" in terms and "多少" not in terms and "的" not in terms
    assert terms["干部"] > terms["横沥"]  # nearer the question word: what is asked about, not the topic
    assert cue.kinds == ("quantity",) and cue.before.endswith("党员干部有") and cue.after == "名"
    assert question_cue("What company built the bridge?").kinds == ("organisation",)
    assert question_cue("Who leads the town?").kinds == ("person",)
    assert question_cue("Where is the school?").kinds == ("place",)
    assert question_cue("横沥镇委书记是谁？").kinds == ("person",)
    assert question_cue("学校在哪里？").kinds == ("place",)
    assert question_cue("这首歌收录在哪张专辑？").kinds == ("title",)
    assert question_cue("共治协会由哪些人组成？").kinds == ()


def test_the_clause_that_gives_the_count_beats_the_one_that_restates_the_question():
    spans, scores = spans_and_scores(STORY, "情系群众周")
    question = "情系群众周活动有多少名党员干部参加？"
    assert "情系群众周" in answer_span(STORY, spans, scores).text  # by the search's scores alone
    answer = answer_span(STORY, spans, scores, question)
    assert "300多名党员干部" in answer.text
    assert answer.exact.text == "300多名"
    households = answer_span(STORY, spans, scores, "情系群众周活动走访了多少户家庭？")
    assert households.exact.text == "1575户"


def test_rare_question_words_in_the_passage_decide_not_the_topic_every_clause_shares():
    text = "横沥镇位于东莞。横沥镇的产业以模具为主。横沥镇的牛墟已有百年历史。"
    spans = clause_spans(text)
    answer = answer_span(text, spans, [0.9, 0.9, 0.9], "横沥镇的牛墟有多少年历史？")
    assert answer.text == "横沥镇的牛墟已有百年历史。"


def test_features_see_the_question_words_around_a_clause():
    spans, scores = spans_and_scores(STORY, "情系群众周")
    f = clause_features(STORY, spans, scores, question_cue("“情系群众周”活动取得了什么效果？"))
    restating = next(i for i, (s, e) in enumerate(spans) if "良好的效果" in STORY[s:e])
    assert max(f.cosine) == 0.0 and min(f.cosine) < 0
    assert f.words[restating] > f.words[restating + 1] == f.words_after[restating] and f.kind == [0.0] * len(spans)
    assert f.words_before[restating + 1] == f.words[restating]


def test_a_question_in_another_language_keeps_the_searchs_clause_scores():
    spans = clause_spans(PASSAGE)
    scores = [1.0 if "预备党员43名" in PASSAGE[s:e] else 0.0 for s, e in spans]
    english = answer_span(PASSAGE, spans, scores, "How many probationary members are there?")
    assert english.text == answer_span(PASSAGE, spans, scores).text
    assert answer_scores(PASSAGE, spans, scores, question_cue("How many probationary members?")) == scores


def test_a_long_sentence_is_narrowed_past_a_clause_too_short_to_say_anything():
    text = ("横沥镇委坚持“四心五群”,即:“齐心创和谐、专心求发展、公心办实事、诚心为人民”和“心里想着群众、思路为了群众、"
            "工作服务群众、发展依靠群众、效果惠及群众”的要求,切实加强党员干部队伍建设。")
    spans = clause_spans(text)
    answer = answer_span(text, spans, [1.0] + [0.0] * (len(spans) - 1))
    assert answer.text.startswith("横沥镇委坚持“四心五群”,即:“齐心创和谐")


def test_the_answer_stands_where_the_question_word_stands():
    text = "伊丽莎白港机场位于南非。机场有三条跑道,主跑道长1980米。那里也有停车场。"
    spans = clause_spans(text)
    cue = question_cue("机场有几条跑道？")
    assert any(s <= text.index("三") < e and share == 1.0 for s, e, share in _gaps(text, cue))
    answer = answer_span(text, spans, [0.9] * len(spans), "机场有几条跑道？")
    assert answer.text == "机场有三条跑道,主跑道长1980米。"
    assert answer.exact.text == "三条"


def test_exact_phrase_by_kind_and_none_when_the_kind_is_unclear():
    census = "2007年人口普查数据为91606人。"
    count = answer_span(census, clause_spans(census), [0.9], "2007年，卡塞雷斯的人口有多少？")
    assert count.exact.text == "91606人"  # the year the question names is not the answer
    text = "卡塞雷斯城的人口为91606人。卡塞雷斯城是罗马人在公元前25年建立的。"
    spans = clause_spans(text)
    date = answer_span(text, spans, [0.8, 0.9], "卡塞雷斯城是什么时候建立的？")
    assert date.text == "卡塞雷斯城是罗马人在公元前25年建立的。" and date.exact.text == "25年"
    why = answer_span(text, spans, [0.8, 0.9], "卡塞雷斯城为什么重要？")
    assert why.exact is None
    person = "该理论由保罗·塞里诺于1998年提出。"
    answer = answer_span(person, clause_spans(person), [0.9], "该理论是由谁提出的？")
    assert answer.exact.text == "保罗·塞里诺"
    assert answer.start <= answer.exact.start < answer.exact.end <= answer.end
    assert person[answer.exact.start:answer.exact.end] == answer.exact.text


def test_a_count_the_question_names_the_measure_of_must_end_in_it():
    text = "平均每年有100多人入党,至2010年9月底,全镇共有党员1724名。"
    answer = answer_span(text, clause_spans(text), [0.9, 0.8, 0.9], "全镇有多少名党员？")
    assert answer.exact.text == "1724名"
    people = answer_span(text, clause_spans(text), [0.9, 0.8, 0.9], "平均每年有多少人入党？")
    assert people.exact.text == "100多人"
    # no count of that measure in the span: nothing is marked, rather than another count
    alone = "平均每年有100多人入党。"
    assert answer_span(alone, clause_spans(alone), [0.9], "全镇有多少名党员？").exact is None


def test_answer_kinds_of_names_places_organisations_and_titles():
    assert kinds(answer_types("横沥镇委书记叶效怀带头")) >= {"person"}
    assert kinds(answer_types("由保罗·塞里诺提出")) >= {"person"}
    assert kinds(answer_types("学校位于广西南宁市")) >= {"place"}
    assert kinds(answer_types("由Mag Garden出版社发行")) >= {"organisation"}
    assert kinds(answer_types("于《月刊Comic Blade》连载")) >= {"title"}
    assert kinds(answer_types("党员干部在群众中树立了良好的形象。")) == set()


def test_the_exact_phrase_survives_the_json_form():
    answer = Answer("全镇共有党员1724名,", 10, 22, Phrase("1724名", 16, 21))
    assert Answer(**json.loads(json.dumps(asdict(answer)))) == answer
    assert Answer("x", 0, 1).exact is None


def test_words_most_passages_of_the_collection_hold_weigh_less():
    cue = question_cue("横沥镇的牛墟何时开市？")
    damped = dict(common_words_weigh_less(cue, {"横沥镇": 0.5, "牛墟": 4.0, "开市": 3.0}).terms)
    terms = dict(cue.terms)
    assert damped["横沥"] == terms["横沥"] / 2 and damped["牛墟"] == terms["牛墟"] and damped["开市"] == terms["开市"]
    assert common_words_weigh_less(cue, {"横沥镇": 1.0}) == cue == common_words_weigh_less(cue, {})
    text = "横沥镇的工厂很多,牛墟每月开市。"
    spans = clause_spans(text)
    before = answer_scores(text, spans, [0.9, 0.9], cue)
    after = answer_scores(text, spans, [0.9, 0.9], common_words_weigh_less(cue, {"横沥镇": 0.2}))
    assert after[0] - after[1] < before[0] - before[1]  # the town every document names tells less


def test_a_narrowed_span_still_too_long_keeps_the_better_neighbour_only():
    parts = ["镇里组织了党员干部在各个村庄和社区开展走访慰问活动以及环境整治和垃圾分类宣传工作,",
             "全镇共有党员1724名并且每一名党员都参加了这次持续三个月的为民服务志愿活动和学习教育,",
             "同时还召开了多场座谈会听取群众对镇村发展规划和民生实事项目的意见与建议并做好了记录。"]
    text = "".join(parts)
    spans = clause_spans(text)
    assert len(spans) == 3 and len(text) > 100
    answer = answer_span(text, spans, [0.80, 0.90, 0.85])
    assert answer.text == parts[1] + parts[2]  # the clause and the neighbour scoring better, not all three


def test_kind_masks_are_the_kinds_as_bits():
    assert kinds_asked("横沥镇有多少名党员？") == 1 << KINDS.index("quantity")
    assert kinds_asked("共治协会由哪些人组成？") == 0
    given = kinds_given("2010年9月底,全镇共有党员1724名")
    assert given & (1 << KINDS.index("quantity")) and given & (1 << KINDS.index("date"))
    assert kinds_given("党员干部在群众中树立了良好的形象。") == 0
