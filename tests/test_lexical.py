"""BM25 over jieba words: tokens, scores, persistence."""

from __future__ import annotations

import numpy as np

from qa.index import lexical
from qa.index.lexical import LexicalIndex, read_words, tokenize

TEXTS = [
    "横沥镇委开展“情系群众周”活动，镇府机关300多名党员干部分成20个组。",
    "全镇共有党员1724名，其中正式党员1681名，预备党员43名。",
    "以横沥公益学院为议事阵地，梳理共治协会的组织框架。",
]


def test_tokens_are_words_without_punctuation():
    words = tokenize("全镇共有党员1724名，其中正式党员1681名。Hengli Town!")
    assert "党员" in words and "1724" in words and "hengli" in words and "town" in words
    assert not any(w in words for w in ["，", "。", "!", " "])


def test_the_passage_with_the_rare_words_scores_highest():
    index = LexicalIndex.build(list(enumerate(TEXTS)))
    scores = index.scores("正式党员有多少名？")
    assert scores.shape == (3,) and int(np.argmax(scores)) == 1
    assert int(np.argmax(index.scores("议事阵地在哪里"))) == 2


def test_a_question_with_no_known_word_scores_all_zero():
    index = LexicalIndex.build(list(enumerate(TEXTS)))
    assert not index.scores("What is the capital of France?").any()


def test_saved_and_loaded_index_scores_the_same(tmp_path):
    index = LexicalIndex.build(list(enumerate(TEXTS)))
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert loaded.ids.tolist() == [0, 1, 2]
    for q in ["正式党员有多少名？", "情系群众周", "共治协会"]:
        np.testing.assert_allclose(loaded.scores(q), index.scores(q), rtol=1e-6)


def test_the_saved_words_are_each_passages_words_by_id(tmp_path):
    odd = "党员\u2028干部\u3000全镇\x85共有\r\n预备 党员\t43名\x1c。"  # line and word separators of every kind
    LexicalIndex.build([(12, TEXTS[2]), (5, TEXTS[0]), (8, odd), (9, "……")]).save(tmp_path / "lexical")
    expected = {5: tokenize(TEXTS[0]), 12: tokenize(TEXTS[2]), 8: tokenize(odd), 9: []}
    assert read_words(tmp_path / "lexical") == expected and "43" in expected[8] and "干部" in expected[8]
    (tmp_path / "lexical" / lexical.WORDS_FILE).unlink()  # a build from before the words were kept
    assert read_words(tmp_path / "lexical") is None


def test_an_index_of_wordless_passages_still_saves_and_scores(tmp_path):
    index = LexicalIndex.build([(7, "……"), (3, "！！")])
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert loaded.ids.tolist() == [3, 7] and not loaded.scores("党员").any()


def test_scores_follow_ascending_passage_ids_whatever_the_input_order():
    index = LexicalIndex.build([(12, TEXTS[2]), (5, TEXTS[0]), (9, TEXTS[1])])
    assert index.ids.tolist() == [5, 9, 12]
    assert int(np.argmax(index.scores("正式党员有多少名？"))) == 1  # id 9


def test_known_words_are_the_question_words_in_the_collection_weighted_by_rarity():
    index = LexicalIndex.build(list(enumerate(TEXTS)))
    words = index.known_words("预备党员有多少名？")
    assert "预备党员" in words and "多少" not in words  # words never seen in the collection are left out
    assert words["预备党员"] > words["党员"] > 0  # rarer words weigh more
    assert index.known_words("What is this?") == {}


def test_top_is_the_best_k_by_bm25_and_only_passages_sharing_a_word():
    index = LexicalIndex.build([(10 + i, t) for i, t in enumerate(TEXTS)])
    scores = index.scores("正式党员有多少名？")
    ids, best = index.top("正式党员有多少名？", 2)
    assert best.tolist() == sorted(scores[scores > 0], reverse=True)[:2]
    assert ids.tolist() == [int(index.ids[i]) for i in np.argsort(-scores, kind="stable")[:2]]
    assert len(index.top("What is the capital of France?", 5)[0]) == 0
