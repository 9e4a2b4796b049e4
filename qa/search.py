"""Question to ranked hits: dense scores at two granularities fused with BM25, answer spans, confidence.

A passage's dense score mixes its whole-text cosine with its best clause's (a clause that gives
the kind of answer the question asks for, such as a number for "how many", gets a small bonus).
The dense and lexical scores of every passage are z-normalized over the collection and added;
a question none of whose words occur in the collection (an English question over Chinese text)
has an all-zero lexical side, which then adds nothing. BENCHMARKS.md has the measurements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qa.answer import Answer, answer_span, question_types
from qa.index import LoadedIndex, StoredPassage

CLAUSE_WEIGHT = 0.5  # share of the best clause in a passage's dense score, the rest is the whole passage
TYPE_BONUS = 0.03  # cosine added to a clause that looks like the asked-for kind of answer
LEXICAL_WEIGHT = 0.5  # weight of the z-normalized BM25 score against the z-normalized dense score
ANSWER_LEXICAL_WEIGHT = 0.2  # weight of the question's word overlap when choosing the answer clause
# Best whole-passage cosine below which nothing is taken to answer the question. Calibrated for
# the default model; a question in another script than the passages scores lower across the board.
CONFIDENT_SAME_SCRIPT = 0.86
CONFIDENT_CROSS_SCRIPT = 0.735
_LATIN_WORD = re.compile(r"[A-Za-z]+")


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
    answer: Answer | None = None


@dataclass
class Result:
    """The answer to one question: hits best first; `confident` is False when nothing seems to answer it."""

    question: str
    confident: bool
    hits: list[Hit]


@dataclass
class Scores:
    """One question's scores of every passage, in ascending passage-id order (`ids`), and of every clause."""

    ids: np.ndarray
    passage_cosine: np.ndarray
    clause: np.ndarray  # clause cosine plus the answer-type bonus, by clause id (row of index.clause_table)
    dense: np.ndarray
    lexical: np.ndarray
    fused: np.ndarray


def dense_search(index: LoadedIndex, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(passage id, cosine score) for the k nearest passages, best first."""
    if len(index.vectors) == 0:
        return []
    scores, ids = index.vectors.search(query.reshape(1, -1), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def score(index: LoadedIndex, question: str, query: np.ndarray) -> Scores:
    """Dense, lexical and fused scores of every passage for the question and its vector."""
    ids, passage_cosine = index.vectors.all_scores(query)
    _, clause = index.clauses.all_scores(query)
    asked = np.array(question_types(question), dtype=bool)
    if asked.any() and len(clause):
        clause = clause + TYPE_BONUS * index.clause_types[:, asked].any(axis=1)
    best_clause = np.full(len(ids), -1.0, dtype=np.float32)
    if len(clause):
        np.maximum.at(best_clause, np.searchsorted(ids, index.clause_table[:, 0]), clause)
    dense = (1 - CLAUSE_WEIGHT) * passage_cosine + CLAUSE_WEIGHT * best_clause
    lexical = index.lexical.scores(question)
    fused = zscore(dense) + LEXICAL_WEIGHT * zscore(lexical)
    return Scores(ids, passage_cosine, clause, dense, lexical, fused)


def zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std; all zeros when x is constant, so a side that found nothing adds nothing."""
    std = float(x.std()) if len(x) else 0.0
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def search(index: LoadedIndex, question: str, query: np.ndarray, top_k: int) -> Result:
    """The top_k passages by fused score, each with its answer span, and whether any seems to answer."""
    if len(index.vectors) == 0:
        return Result(question, False, [])
    s = score(index, question, query)
    top = np.argsort(-s.fused, kind="stable")[:top_k]
    best = int(s.ids[np.argmax(s.passage_cosine)])
    stored = index.passages.get(list({int(s.ids[r]) for r in top} | {best}))
    words = index.lexical.known_words(question)
    hits = []
    for r in top:
        pid = int(s.ids[r])
        hit = _hit(stored[pid], float(s.fused[r]))
        clauses = np.flatnonzero(index.clause_table[:, 0] == pid)
        spans = [(int(index.clause_table[c, 1]), int(index.clause_table[c, 2])) for c in clauses]
        clause_scores = [
            float(s.clause[c]) + ANSWER_LEXICAL_WEIGHT * index.lexical.overlap(words, hit.text[a:b])
            for c, (a, b) in zip(clauses, spans)
        ]
        hit.answer = answer_span(hit.text, spans, clause_scores)
        hits.append(hit)
    confident = bool(s.passage_cosine.max() >= confidence_threshold(question, stored[best].text))
    return Result(question, confident, hits)


def confidence_threshold(question: str, passage: str) -> float:
    """The cosine a passage must reach to answer the question: lower across scripts (Latin vs Han)."""
    return CONFIDENT_SAME_SCRIPT if _mostly_han(question) == _mostly_han(passage) else CONFIDENT_CROSS_SCRIPT


def to_hits(index: LoadedIndex, ranked: list[tuple[int, float]]) -> list[Hit]:
    """Attach passage text and document metadata to ranked ids."""
    stored = index.passages.get([pid for pid, _ in ranked])
    return [_hit(stored[pid], score) for pid, score in ranked if pid in stored]


def _mostly_han(text: str) -> bool:
    """More Han characters than Latin words (a Han character is about a word)."""
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text) > len(_LATIN_WORD.findall(text))


def _hit(p: StoredPassage, score: float) -> Hit:
    return Hit(
        text=p.text, score=round(score, 4), document=p.doc, title=p.title, source=p.source, author=p.author,
        date=p.date, position=p.position, start=p.start, end=p.end, heading=p.heading, page=p.page,
    )
