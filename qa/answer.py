"""Within a passage: clauses, what kind of answer a question wants, and the span that answers it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.text import split_sentences, trim_span

MAX_ANSWER_CHARS = 80  # a longer sentence is narrowed to the best clause and its neighbours

_CN_NUMERAL = "〇零一二两三四五六七八九十百千万亿"
# Question words asking for a kind of answer, and how a clause that gives one looks.
ANSWER_TYPES = {
    "quantity": (
        re.compile(r"\bhow (?:many|much)\b|\bwhat (?:share|percentage|proportion|number)\b|\bnumber of\b"
                   r"|多少|几[个名项次户场人位家所条件]|比例|百分之", re.I),
        re.compile(rf"\d|[{_CN_NUMERAL}]+[个名项次户场人位家所条件元岁%％]"),
    ),
    "duration": (
        re.compile(r"\bhow long\b|\bhow old\b|多久|多长时间|多少年|几年", re.I),
        re.compile(rf"[\d{_CN_NUMERAL}]+\s*个?[年载月天日周]|世纪"),
    ),
    "date": (
        re.compile(r"\bwhen\b|\bwhat (?:year|date|day|time)\b|\bwhich (?:year|month|day)\b"
                   r"|什么时候|何时|哪一?年|哪一?天|周几|星期几|几月|几号", re.I),
        re.compile(rf"\d+\s*[年月日]|[{_CN_NUMERAL}]+[年月日]|[周星期][一二三四五六日天]|今年|去年|明年"),
    ),
}


@dataclass
class Answer:
    """The span of a hit that best answers the question: hit.text[start:end] == text."""

    text: str
    start: int
    end: int


def question_types(question: str) -> list[bool]:
    """For each kind of ANSWER_TYPES (quantity, duration, date): whether the question asks for it."""
    return [bool(asks.search(question)) for asks, _ in ANSWER_TYPES.values()]


def question_kind(question: str) -> str:
    """The first kind of answer of ANSWER_TYPES the question asks for, else "other"."""
    return next((kind for kind, (asks, _) in ANSWER_TYPES.items() if asks.search(question)), "other")


def answer_types(text: str) -> list[bool]:
    """For each kind of ANSWER_TYPES: whether text looks like an answer of that kind."""
    return [bool(gives.search(text)) for _, gives in ANSWER_TYPES.values()]


def answer_span(text: str, clauses: list[tuple[int, int]], scores: list[float]) -> Answer | None:
    """The sentence holding the best-scoring clause, or that clause and its neighbours if the sentence is long."""
    if not clauses:
        return None
    best = max(range(len(clauses)), key=scores.__getitem__)
    c_start, c_end = clauses[best]
    s_start, s_end = next(((s, e) for s, e in split_sentences(text) if s <= c_start < e), (0, len(text)))
    s_start, s_end = trim_span(text, s_start, s_end)
    if s_end - s_start > MAX_ANSWER_CHARS:
        first = best - 1 if best > 0 and clauses[best - 1][0] >= s_start else best
        last = best + 1 if best + 1 < len(clauses) and clauses[best + 1][1] <= s_end else best
        s_start, s_end = clauses[first][0], clauses[last][1]
    return Answer(text[s_start:s_end], s_start, s_end)
