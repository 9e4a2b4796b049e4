"""Chunking: sentence spans, splitting long paragraphs, joining short ones, true offsets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.passages.chunking import Passage, split_passages
from qa.read.documents import Document, DocumentMeta, Paragraph
from qa.read.folder import load_documents
from qa.core.text import SENTENCE_END, split_sentences

HERE = Path(__file__).resolve()
CORPUS_DIRS = [d for d in (HERE.parents[2] / "shared" / "corpus", HERE.parents[1] / "data") if d.is_dir()]

SENTENCES = [
    "今年全镇地区生产总值增长3.5%，高于全市平均水平。",
    "镇里引进了U.S. Steel等外资企业，带动就业两千余人！",
    "负责人说：“我们将继续优化营商环境。”",
    "下一步，全镇将围绕产业升级、城市更新和民生保障三个方面持续发力，推动高质量发展取得新成效？",
]


def make_doc(parts: list[tuple[str, str]], path: str = "t.txt") -> Document:
    """A document whose paragraphs are the given (heading, text) pairs, one per line."""
    text, paragraphs = "", []
    for heading, para in parts:
        start = len(text)
        text += para + "\n"
        paragraphs.append(Paragraph(para, start, start + len(para), heading))
    return Document(document=path, text=text, meta=DocumentMeta(title="t"), paragraphs=paragraphs)


def assert_well_formed(doc: Document, passages: list[Passage], max_chars: int) -> None:
    assert [p.position for p in passages] == list(range(len(passages)))
    for p in passages:
        assert p.document == doc.document
        assert doc.text[p.start : p.end] == p.text
        assert 0 < len(p.text) <= max_chars
        assert p.text == p.text.strip()


def ascii_token_inner_positions(text: str) -> set[int]:
    return {i for m in re.finditer(r"[A-Za-z0-9]+(?:[.,][A-Za-z0-9]+)*", text) for i in range(m.start() + 1, m.end())}


def test_split_sentences_keeps_closing_quotes_and_covers_text():
    text = "".join(SENTENCES)
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == SENTENCES
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_split_sentences_never_inside_ascii_tokens():
    text = "访问Yahoo!News网站；比例为3.5%。最后一句没有句号"
    assert [text[s:e] for s, e in split_sentences(text)] == ["访问Yahoo!News网站；", "比例为3.5%。", "最后一句没有句号"]
    assert split_sentences("") == []


def test_long_paragraph_is_split_at_sentence_ends():
    para = "".join(SENTENCES * 12)
    doc = make_doc([("一、发展", para)])
    passages = split_passages(doc, max_chars=200, min_chars=40)

    assert len(passages) > 1
    assert_well_formed(doc, passages, 200)
    assert passages[0].start == doc.paragraphs[0].start and passages[-1].end == doc.paragraphs[0].end
    for a, b in zip(passages, passages[1:]):
        assert doc.text[a.end : b.start].strip() == ""
        assert a.text[-1] in SENTENCE_END + "”"
    assert all(p.heading == "一、发展" for p in passages)
    assert "".join(p.text for p in passages) == para


def test_overlong_sentence_is_split_at_commas_then_safely():
    clauses = "，".join(f"第{i}项工作完成了3.5万元投资和U.S. Steel项目对接" for i in range(40)) + "。"
    run = "横沥" * 150 + "Hengli2023Development" + "发展" * 150
    doc = make_doc([("", clauses), ("", run)])
    passages = split_passages(doc, max_chars=100, min_chars=10)

    assert_well_formed(doc, passages, 100)
    first = [p for p in passages if p.end <= doc.paragraphs[0].end]
    assert all(p.text.endswith(("，", "。")) for p in first)
    for para in doc.paragraphs:
        inner = {para.start + i for i in ascii_token_inner_positions(para.text)}
        cuts = {p.start for p in passages} | {p.end for p in passages}
        assert not cuts & inner
    assert "".join(p.text for p in passages) == clauses + run


def test_short_fragments_join_the_next_paragraph_of_their_section():
    long = "这一段是正常长度的正文，讲述了基层治理的具体做法和取得的明显成效，内容比较完整。"
    doc = make_doc([("甲", "短句一。"), ("甲", long), ("甲", "结尾短句。"), ("乙", "乙节短句。"), ("丙", long)])
    passages = split_passages(doc, max_chars=500, min_chars=20)

    assert_well_formed(doc, passages, 500)
    assert [p.text for p in passages] == [f"短句一。\n{long}\n结尾短句。", "乙节短句。", long]
    assert [p.heading for p in passages] == ["甲", "乙", "丙"]


def test_join_respects_max_chars():
    long = "长" * 95 + "。"
    doc = make_doc([("", "短句。"), ("", long)])
    passages = split_passages(doc, max_chars=98, min_chars=40)
    assert [p.text for p in passages] == ["短句。", long]


def test_join_never_swallows_text_between_paragraphs():
    text = "短句一。\n分享到：微信\n" + "这一段是正常长度的正文，讲述了具体做法，内容比较完整。\n"
    first_end = text.index("\n")
    second_start = text.index("这一段")
    doc = Document(
        document="t.txt",
        text=text,
        meta=DocumentMeta(title="t"),
        paragraphs=[
            Paragraph(text[:first_end], 0, first_end),
            Paragraph(text[second_start:-1], second_start, len(text) - 1),
        ],
    )
    assert [p.text for p in split_passages(doc, min_chars=10)] == ["短句一。", text[second_start:-1]]


@pytest.mark.parametrize("folder", CORPUS_DIRS or [None], ids=lambda d: d.name if d else "none")
def test_corpus_passages(folder):
    if folder is None:
        pytest.skip("no copy of the shared corpus found")
    documents = load_documents(folder).documents
    texts = []
    for doc in documents:
        passages = split_passages(doc)
        assert_well_formed(doc, passages, 500)
        texts += [p.text for p in passages]
    assert any("全镇共有党员1724名" in t for t in texts)
