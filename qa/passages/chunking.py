"""Documents to passages: paragraphs cut to a bounded length at the coarsest boundary that fits, and their clauses."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from qa.read.documents import Document
from qa.core.kinds import kinds_given
from qa.core.text import LIST_BREAK, clause_ends, clause_spans, protected_positions, split_sentences, trim_span

# A passage is about a paragraph: the model reads up to 512 tokens, and an answer is easier to spot in a
# few sentences than in a page. Fragments shorter than MIN_CHARS (a dangling line, a caption) say too
# little alone to be found, so they join a neighbour.
MAX_CHARS = 500
MIN_CHARS = 40
_SPACE_RUN = re.compile(r"\s+")


@dataclass(kw_only=True)
class Passage:
    """A retrievable piece of a document: Document.text[start:end] == text. `id` is its id in the index (-1 before)."""

    document: str  # its document's key (Document.document)
    position: int
    text: str
    start: int
    end: int
    heading: str = ""
    page: int | None = None  # 1-based page of a PDF
    id: int = -1


@dataclass
class _Piece:
    """A span of a document's text with the section it belongs to; pieces join only within one section."""

    start: int
    end: int
    heading: str
    page: int | None

    def joins(self, other: "_Piece", text: str, max_chars: int) -> bool:
        """Same section and page as `other` (which follows), only whitespace between, and short enough together."""
        return ((self.heading, self.page) == (other.heading, other.page) and other.end - self.start <= max_chars
                and not text[self.end : other.start].strip())


def split_passages(doc: Document, max_chars: int = MAX_CHARS, min_chars: int = MIN_CHARS) -> list[Passage]:
    """One passage per paragraph; long paragraphs are split, tiny ones joined to a neighbour."""
    pieces = [
        _Piece(start, end, para.heading, para.page)
        for para in doc.paragraphs
        for start, end in _split_span(doc.text, para.start, para.end, max_chars)
    ]
    pieces = _join_short(doc.text, pieces, min_chars, max_chars)
    return [
        Passage(document=doc.document, position=position, text=doc.text[p.start : p.end], start=p.start, end=p.end,
                heading=p.heading, page=p.page)
        for position, p in enumerate(pieces)
    ]


def clause_table(passages: list[Passage]) -> np.ndarray:
    """(passage id, start, end, kinds) of every clause of every passage, in passage-id order.

    `kinds` is the bit mask of the kinds of answer the clause looks like (qa.core.kinds), found once here so that
    questions need not test every candidate clause.
    """
    rows = [(p.id, s, e, kinds_given(p.text[s:e])) for p in sorted(passages, key=lambda p: p.id)
            for s, e in clause_spans(p.text)]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def _split_span(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into trimmed spans of at most max_chars, at the coarsest boundaries that fit."""
    segment = text[start:end]
    protected = protected_positions(segment)
    levels = [
        [e for _, e in split_sentences(segment)],
        clause_ends(segment),
        [i + 1 for i, ch in enumerate(segment) if ch in LIST_BREAK],
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


def _join_short(text: str, pieces: list[_Piece], min_chars: int, max_chars: int) -> list[_Piece]:
    """Merge pieces shorter than min_chars into the next piece of their section and page, else the previous one."""
    out = list(pieces)
    i = 0
    while i < len(out):
        piece = out[i]
        if piece.end - piece.start < min_chars:
            if i + 1 < len(out) and piece.joins(out[i + 1], text, max_chars):
                out[i : i + 2] = [_Piece(piece.start, out[i + 1].end, piece.heading, piece.page)]
                continue
            if i > 0 and out[i - 1].joins(piece, text, max_chars):
                out[i - 1 : i + 1] = [_Piece(out[i - 1].start, piece.end, piece.heading, piece.page)]
                i -= 1
                continue
        i += 1
    return out
