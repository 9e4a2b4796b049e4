"""Cut document paragraphs into passages of bounded length, at sentence boundaries where possible."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from qa.ingest import Document

SENTENCE_END = "。！？!?；;"
CLOSERS = "”’」』）)】》"
_SENTENCE_TAIL = SENTENCE_END + CLOSERS

# ASCII words and numbers, with the punctuation that may sit inside them ("3.5", "U.S", "1,724", "08:42").
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.,:;!?'’/\-][A-Za-z0-9]+)*")
_CLAUSE_BREAK = re.compile(r"[，,、：:]+[" + re.escape(CLOSERS) + r"]*\s*")
_SPACE_RUN = re.compile(r"\s+")


@dataclass
class Passage:
    """A retrievable piece of a document; Document.text[start:end] == text."""

    doc: str
    position: int
    text: str
    start: int
    end: int
    heading: str = ""
    page: int | None = None  # 1-based page of a PDF


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans covering text, each ending after sentence-end marks, closing quotes and spaces."""
    protected = _protected_positions(text)
    spans, start, i, n = [], 0, 0, len(text)
    while i < n:
        if text[i] not in SENTENCE_END:
            i += 1
            continue
        i += 1
        while i < n and text[i] in _SENTENCE_TAIL:
            i += 1
        while i < n and text[i].isspace():
            i += 1
        if i < n and i not in protected:
            spans.append((start, i))
            start = i
    if start < n:
        spans.append((start, n))
    return spans


def split_passages(doc: Document, max_chars: int = 500, min_chars: int = 40) -> list[Passage]:
    """One passage per paragraph; long paragraphs are split, tiny ones joined to a neighbour."""
    pieces = [
        (start, end, (para.heading, para.page))
        for para in doc.paragraphs
        for start, end in _split_span(doc.text, para.start, para.end, max_chars)
    ]
    pieces = _join_short(doc.text, pieces, min_chars, max_chars)
    return [
        Passage(doc.path, position, doc.text[start:end], start, end, heading, page)
        for position, (start, end, (heading, page)) in enumerate(pieces)
    ]


def _protected_positions(text: str) -> set[int]:
    """Offsets strictly inside an ASCII word or number, where text must never be cut."""
    return {p for m in _ASCII_TOKEN.finditer(text) for p in range(m.start() + 1, m.end())}


def _split_span(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into trimmed spans of at most max_chars, at the coarsest boundaries that fit."""
    segment = text[start:end]
    protected = _protected_positions(segment)
    levels = [
        [e for _, e in split_sentences(segment)],
        [m.end() for m in _CLAUSE_BREAK.finditer(segment) if m.end() not in protected],
        [m.end() for m in _SPACE_RUN.finditer(segment)],
        [p for p in range(1, len(segment)) if p not in protected],
    ]
    spans = []
    for s, e in _pack(0, len(segment), levels, max_chars):
        s, e = trim_span(segment, s, e)
        if s < e:
            spans.append((start + s, start + e))
    return spans


def _pack(start: int, end: int, levels: list[list[int]], max_chars: int) -> list[tuple[int, int]]:
    """Greedily group [start, end) at the cut points of levels[0]; over-long groups go to the next level."""
    if end - start <= max_chars:
        return [(start, end)]
    if not levels:
        # A single ASCII token longer than max_chars has no safe cut, so it is cut blindly.
        return [(p, min(p + max_chars, end)) for p in range(start, end, max_chars)]
    cuts = [p for p in levels[0] if start < p < end] + [end]
    spans, cur = [], start
    while cur < end:
        k = bisect_right(cuts, cur + max_chars) - 1  # the furthest cut within reach
        if k >= 0 and cuts[k] > cur:
            spans.append((cur, cuts[k]))
            cur = cuts[k]
        else:
            spans.extend(_pack(cur, cuts[k + 1], levels[1:], max_chars))
            cur = cuts[k + 1]
    return spans


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) past surrounding whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


Section = tuple[str, int | None]  # (heading, page): pieces are joined only within one


def _join_short(
    text: str, pieces: list[tuple[int, int, Section]], min_chars: int, max_chars: int
) -> list[tuple[int, int, Section]]:
    """Merge pieces shorter than min_chars into the next piece of their section and page, else the previous one."""
    out = list(pieces)
    i = 0
    while i < len(out):
        start, end, section = out[i]
        if end - start < min_chars:
            if i + 1 < len(out) and _joinable(text, out[i], out[i + 1], max_chars):
                out[i : i + 2] = [(start, out[i + 1][1], section)]
                continue
            if i > 0 and _joinable(text, out[i - 1], out[i], max_chars):
                out[i - 1 : i + 1] = [(out[i - 1][0], end, section)]
                i -= 1
                continue
        i += 1
    return out


def _joinable(text: str, first: tuple[int, int, Section], second: tuple[int, int, Section], max_chars: int) -> bool:
    """Same section and page, only whitespace between them, and short enough together."""
    return first[2] == second[2] and second[1] - first[0] <= max_chars and not text[first[1] : second[0]].strip()
