"""Question to ranked hits: dense scores at two granularities fused with BM25, answer spans, confidence.

A passage's dense score mixes its whole-text cosine with its best clause's (a clause that gives
the kind of answer the question asks for, such as a number for "how many", gets a small bonus).
Candidates are the nearest passages by vector and the best by BM25 (every passage of a small
collection); their dense and lexical scores are z-normalized over the candidates and added;
a question none of whose words occur in the collection (an English question over Chinese text)
has an all-zero lexical side, which then adds nothing. BENCHMARKS.md has the measurements.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from qa.answer.reader.read import Reader
from qa.answer.span import Answer, Cue, Phrase, answer_span, common_words_weigh_less, gives_asked_kind, question_cue
from qa.core.kinds import kind_mask, kinds_asked, kinds_given
from qa.core.text import HAN_CHAR
from qa.index.base import Clauses, Collection, StoredPassage

CLAUSE_WEIGHT = 0.5  # share of the best clause in a passage's dense score, the rest is the whole passage
TYPE_BONUS = 0.03  # cosine added to a clause that looks like the asked-for kind of answer
CANDIDATES = 50  # passages taken from each side (dense, lexical) and rescored; 100 found nothing more (BENCHMARKS.md)
LEXICAL_WEIGHT = 0.5  # weight of the z-normalized BM25 score against the z-normalized dense score
# Best whole-passage cosine below which nothing is taken to answer the question. Calibrated for
# the default model; a question in another script than the passages scores lower across the board.
CONFIDENT_SAME_SCRIPT = 0.86
CONFIDENT_CROSS_SCRIPT = 0.735
# A hit's relevance: its dense score (half passage, half best clause) against two lines, "medium" and "high".
# Calibrated for the default model on the answering, other and unanswerable hits of the dev, extra and
# unanswerable sets (BENCHMARKS.md, "Confidence"); lower across scripts, like the confidence lines.
RELEVANCE_SAME_SCRIPT = (0.865, 0.905)
RELEVANCE_CROSS_SCRIPT = (0.755, 0.775)
# The reader (qa.answer.reader) reads the first hit with the question. Its margin (answer score minus "no answer"
# score) says whether the hit holds an answer. Measured on the CMRC trial set with half its documents left out, and
# on the dev and extra sets (BENCHMARKS.md, "The reader"); ranking the first hits again by it lost hit@1 there.
READER_CONFIDENT = 0.0  # the margin a confident answer needs (beside the cosine line)
READER_HIGH = 3.0  # the margin for relevance "high"
READER_EXACT = 4.0  # the margin past which the reader's span is the exact answer, for a question asking a kind
_LATIN_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class Hit:
    """One retrieved passage, best first in a result list. `document` is its file in the data folder; its metadata
    is flat here, as the JSON answer has it."""

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
    relevance: str = "low"  # "high", "medium" or "low" on a fixed scale (search.relevance); "low" when not confident

    @classmethod
    def of(cls, passage: StoredPassage, score: float) -> Hit:
        """The hit for a stored passage."""
        meta = passage.meta
        return cls(text=passage.text, score=round(score, 4), document=passage.document, title=meta.title,
                   source=meta.source, author=meta.author, date=meta.date, position=passage.position,
                   start=passage.start, end=passage.end, heading=passage.heading, page=passage.page)


@dataclass
class Result:
    """The answer to one question: hits best first; `confident` is False when nothing seems to answer it.

    A question that could not be asked has no hits, `confident` None and `error` saying why.
    """

    question: str
    confident: bool | None
    hits: list[Hit]
    error: str | None = None

    def as_json(self) -> dict:
        """The one JSON form of a result: `qa ask --json`, `POST /api/ask` and the page's `/ask` endpoint."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Result:
        """A result from its JSON form."""
        hits = [Hit(**{**h, "answer": Answer(**h["answer"]) if h.get("answer") else None}) for h in data["hits"]]
        return cls(data["question"], data["confident"], hits, data.get("error"))


@dataclass
class Scores:
    """One question's scores of its candidate passages (`ids`, ascending) and of their clauses."""

    ids: np.ndarray
    passage_cosine: np.ndarray
    clauses: Clauses
    clause: np.ndarray  # clause cosine plus the answer-type bonus, one per row of `clauses`
    dense: np.ndarray
    lexical: np.ndarray
    fused: np.ndarray
    asked: int = 0  # the kinds of answer the question asks for (a qa.core.kinds mask)


def candidates(collection: Collection, question: str, query: np.ndarray, k: int,
               documents: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest and the k best lexical passages (ids ascending), with their BM25 scores (0 where not found).

    With `documents`, only passages of those documents are candidates.
    """
    dense_ids, _ = collection.dense(query, k, documents)
    lexical_ids, bm25 = collection.lexical(question, k, documents)
    ids = np.union1d(dense_ids, lexical_ids).astype(np.int64)
    lexical = np.zeros(len(ids), dtype=np.float32)
    lexical[np.searchsorted(ids, lexical_ids)] = bm25
    return ids, lexical


def score(collection: Collection, question: str, query: np.ndarray, k: int = CANDIDATES,
          documents: list[str] | None = None, asked: int | None = None) -> Scores:
    """Dense, lexical and fused scores of the question's candidates (see `candidates`)."""
    ids, lexical = candidates(collection, question, query, k, documents)
    passage_cosine = collection.cosines(query, ids)
    clauses = collection.clauses(ids)
    # einsum, not @: a product this small is quicker on one thread than after waking BLAS's (BENCHMARKS.md)
    clause = np.einsum("ij,j->i", clauses.vectors, np.asarray(query, dtype=np.float32))
    asked = kinds_asked(question) if asked is None else asked  # the caller's, when it found them already
    if asked:  # the clauses' kinds were found when they were indexed
        clause = clause + TYPE_BONUS * ((clauses.kinds & asked) != 0).astype(np.float32)
    best_clause = np.full(len(ids), -1.0, dtype=np.float32)
    if len(clause):
        np.maximum.at(best_clause, np.searchsorted(ids, clauses.passage_ids), clause)
    dense = (1 - CLAUSE_WEIGHT) * passage_cosine + CLAUSE_WEIGHT * best_clause
    fused = zscore(dense) + LEXICAL_WEIGHT * zscore(lexical)
    return Scores(ids, passage_cosine, clauses, clause, dense, lexical, fused, asked)


def zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std; all zeros when x is constant, so a side that found nothing adds nothing."""
    std = float(x.std()) if len(x) else 0.0
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def search(collection: Collection, question: str, query: np.ndarray, top_k: int,
           documents: list[str] | None = None, reader: Reader | None = None) -> Result:
    """The top_k passages by fused score, each with its answer span, and whether any seems to answer.

    With `documents`, only passages of those documents are searched. With a `reader`, the first hit of a question
    in the passages' script is read with it: it decides confidence and marks the exact answer.
    """
    cue = question_cue(question)  # the question's words and asked kinds, found once
    s = score(collection, question, query, max(CANDIDATES, top_k), documents, asked=kind_mask(cue.kinds))
    if not len(s.ids):
        return Result(question, False, [])
    ranked = np.argsort(-s.fused, kind="stable")[:top_k]
    nearest = int(np.argmax(s.passage_cosine))
    stored = collection.passages([int(i) for i in s.ids[[*ranked, nearest]]])  # only what is shown or judged
    cue = common_words_weigh_less(cue, collection.word_weights(question))
    hits = []
    for r in ranked:
        pid = int(s.ids[r])
        hit = Hit.of(stored[pid], float(s.fused[r]))
        rows = np.flatnonzero(s.clauses.passage_ids == pid)
        spans = [(int(a), int(b)) for a, b in s.clauses.spans[rows]]
        hit.answer = answer_span(hit.text, spans, [float(s.clause[c]) for c in rows], question, cue=cue)
        hits.append(hit)
    best = stored[int(s.ids[nearest])]
    confident = bool(s.passage_cosine[nearest] >= confidence_threshold(question, best.text)) and asks_something(question)
    if reader is not None and _mostly_han(question) == _mostly_han(best.text):
        # Across scripts (an English question over Chinese text) the reader, trained on Chinese questions, finds
        # no answer anywhere (BENCHMARKS.md, "The reader"): those questions keep the cosine lines.
        return read_first(reader, Result(question, confident, hits), s, ranked, cue)
    asked = s.asked
    for hit, r in zip(hits, ranked):
        level = relevance(float(s.dense[r]), question, hit.text) if confident else "low"
        if level == "high" and asked and not (hit.answer and kinds_given(hit.answer.text) & asked):
            level = "medium"  # on the topic, but its answer is not the kind asked for (no number for "how many")
        hit.relevance = level
    return Result(question, confident, hits)


def read_first(reader: Reader, result: Result, s: Scores, ranked: np.ndarray, cue: Cue) -> Result:
    """The result (its `confident` from the cosine line) with its first hit read: confidence, relevance, exact answer.

    Confident needs the cosine line and the reader finding an answer in the first hit. The span stays the chooser's;
    the reader's answer inside it becomes the exact answer when the question asks for a kind of answer and the
    reader's answer is of that kind; when it is not ("100多人" for "几个球场"), the hit is at most "medium".
    """
    question, first = result.question, result.hits[0]
    focus = (first.answer.start, first.answer.end) if first.answer else (0, len(first.text))
    reading, = reader.read(question, [first.text], [focus])
    confident = bool(result.confident) and reading.margin > READER_CONFIDENT
    found = first.text[reading.start:reading.end]
    of_kind = not s.asked or gives_asked_kind(found, cue)
    inside = first.answer and first.answer.start <= reading.start < reading.end <= first.answer.end
    if s.asked and of_kind and inside and reading.margin > READER_EXACT and found.strip():
        first.answer.exact = Phrase(found, reading.start, reading.end)
    first.relevance = ("high" if reading.margin >= READER_HIGH and of_kind else "medium") if confident else "low"
    for hit, r in zip(result.hits[1:], ranked[1:]):  # not read: at most "medium", on its dense score
        level = relevance(float(s.dense[r]), question, hit.text) if confident else "low"
        hit.relevance = "medium" if level == "high" else level
    return Result(question, confident, result.hits)


def asks_something(question: str) -> bool:
    """Whether a question has at least two words to ask with (Han characters, Latin words): "hi" or "42" has not."""
    return len(HAN_CHAR.findall(question)) + len([w for w in _LATIN_WORD.findall(question) if len(w) > 1]) >= 2


def relevance(dense: float, question: str, passage: str) -> str:
    """A hit's relevance on a fixed scale, from its dense score: "high", "medium" or "low" against the lines."""
    same = _mostly_han(question) == _mostly_han(passage)
    medium, high = RELEVANCE_SAME_SCRIPT if same else RELEVANCE_CROSS_SCRIPT
    return "high" if dense >= high else "medium" if dense >= medium else "low"


def confidence_threshold(question: str, passage: str) -> float:
    """The cosine a passage must reach to answer the question: lower across scripts (Latin vs Han)."""
    return CONFIDENT_SAME_SCRIPT if _mostly_han(question) == _mostly_han(passage) else CONFIDENT_CROSS_SCRIPT


def _mostly_han(text: str) -> bool:
    """More Han characters than Latin words (a Han character is about a word)."""
    return len(HAN_CHAR.findall(text)) > len(_LATIN_WORD.findall(text))
