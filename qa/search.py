"""Question vector to ranked hits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.index import LoadedIndex, StoredPassage


@dataclass
class Hit:
    """One retrieved passage, best first in a result list. `document` is its file in the data folder."""

    text: str
    score: float
    document: str
    title: str
    source: str
    author: str
    date: str
    position: int
    start: int
    end: int
    heading: str
    page: int | None = None  # 1-based page, for passages from a PDF


def dense_search(index: LoadedIndex, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(passage id, cosine score) for the k nearest passages, best first."""
    if len(index.vectors) == 0:
        return []
    scores, ids = index.vectors.search(query.reshape(1, -1), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def to_hits(index: LoadedIndex, ranked: list[tuple[int, float]]) -> list[Hit]:
    """Attach passage text and document metadata to ranked ids."""
    stored = index.passages.get([pid for pid, _ in ranked])
    return [_hit(stored[pid], score) for pid, score in ranked if pid in stored]


def _hit(p: StoredPassage, score: float) -> Hit:
    return Hit(
        text=p.text, score=round(score, 4), document=p.doc, title=p.title, source=p.source, author=p.author,
        date=p.date, position=p.position, start=p.start, end=p.end, heading=p.heading, page=p.page,
    )
