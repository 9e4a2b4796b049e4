"""Property-based checks: ingestion and passage splitting never crash, never lose or misplace text."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qa.passages.chunking import split_passages
from qa.read.documents import IngestError, decode_bytes
from qa.read.plaintext import parse_document
from qa.core.text import is_space, split_sentences

# Text built from the pieces real pages are made of: CJK, ASCII words and numbers, punctuation,
# newlines, odd spaces, emoji, right-to-left script and control characters.
PIECES = st.sampled_from([
    "横沥镇", "党员", "全镇共有党员1724名", "，", "。", "！", "？", "；", "“", "”", "3.5", "U.S.", "Hello world",
    "\n", "\n\n", "\r\n", " ", "\u3000", "\u00a0", "来源:", "时间:2023-05-18", "Copyright ©", " > ", " | ",
    "😀", "مرحبا", "\x00", "\x07", "\u200b", "#", "# 标题\n",
])
TEXT = st.one_of(st.lists(PIECES, max_size=80).map("".join), st.text(max_size=300))

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXT)
def test_parse_document_offsets_point_at_the_text(text):
    doc = parse_document(text, "x.txt")
    for para in doc.paragraphs:
        assert doc.text[para.start : para.end] == para.text
        assert para.text.strip()


@FAST
@given(TEXT, st.integers(min_value=20, max_value=600), st.integers(min_value=0, max_value=80))
@example("横沥镇横沥镇横沥镇全镇共有党员1724名\u200b横沥镇", 20, 0)  # a cut at a zero-width space
def test_passages_are_true_ordered_and_lose_no_paragraph_text(text, max_chars, min_chars):
    doc = parse_document(text, "x.txt")
    passages = split_passages(doc, max_chars=max_chars, min_chars=min_chars)
    assert [p.position for p in passages] == list(range(len(passages)))
    for p in passages:
        assert doc.text[p.start : p.end] == p.text
    for a, b in zip(passages, passages[1:]):
        assert a.end <= b.start
    # every non-space character of every paragraph is inside some passage (spaces as qa.core.text counts them)
    covered = {i for p in passages for i in range(p.start, p.end)}
    for para in doc.paragraphs:
        for i in range(para.start, para.end):
            assert is_space(doc.text[i]) or i in covered  # a zero-width space between cuts is a space too


@FAST
@given(TEXT)
def test_split_sentences_covers_the_text_exactly(text):
    spans = split_sentences(text)
    assert "".join(text[a:b] for a, b in spans) == text
    for a, b in spans:
        assert a < b
    # never inside an ASCII number such as 3.5 or 1,724
    for m in re.finditer(r"\d+[.,]\d+", text):
        assert not any(m.start() < b < m.end() for _, b in spans)


@FAST
@given(st.binary(max_size=400))
def test_decode_bytes_returns_text_or_a_clear_error(data):
    try:
        text = decode_bytes(data, "f.txt")
    except IngestError as e:
        assert "f.txt" in str(e)
    else:
        assert isinstance(text, str)
