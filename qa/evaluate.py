"""Retrieval quality on a question set: hit@1/3/5 and MRR@10, with the misses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qa.errors import QAError


@dataclass
class EvalQuestion:
    """A question and the evidence strings, any of which makes a passage an answer."""

    q: str
    any: list[str]


@dataclass
class Miss:
    """A question whose first hit is not an answer: where the first answer ranked (None: not in the top k)."""

    question: str
    rank: int | None
    first: str


@dataclass
class EvalReport:
    """Scores over a question set; hit@k is the share of questions with an answer in the first k hits.

    `span_at_1` is the share whose first hit's answer span itself contains an evidence string.
    """

    questions: int
    top_k: int
    hit_at_1: float
    hit_at_3: float
    hit_at_5: float
    mrr_at_10: float
    span_at_1: float
    misses: list[Miss]


def read_questions(path: str | Path) -> list[EvalQuestion]:
    """Questions from a JSON-lines file of {"q": ..., "any": [...]}; blank lines are skipped."""
    items = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise QAError(f"Cannot read the question file {path}: {e}") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item = EvalQuestion(str(row["q"]), [str(e) for e in row["any"]])
        except (ValueError, KeyError, TypeError) as e:
            raise QAError(f'{path}:{n}: expected {{"q": "...", "any": ["...", ...]}} ({e}).') from e
        if not item.q.strip() or not item.any:
            raise QAError(f"{path}:{n}: the question and its evidence list must not be empty.")
        items.append(item)
    if not items:
        raise QAError(f"{path} holds no questions.")
    return items


def first_answer_rank(texts: list[str], evidence: list[str]) -> int | None:
    """1-based rank of the first text containing any evidence string, or None."""
    return next((rank for rank, text in enumerate(texts, 1) if any(e in text for e in evidence)), None)


def evaluate(service, questions: list[EvalQuestion], top_k: int = 10) -> EvalReport:
    """Ask every question of `service` and score where the first answering passage ranks."""
    ranks, spans, misses = [], 0, []
    for item in questions:
        hits = service.ask(item.q, top_k)
        rank = first_answer_rank([h.text for h in hits], item.any)
        ranks.append(rank)
        spans += bool(hits and hits[0].answer and first_answer_rank([hits[0].answer.text], item.any))
        if rank != 1:
            misses.append(Miss(item.q, rank, hits[0].text if hits else ""))
    n = len(questions)

    def hit_at(k: int) -> float:
        return round(sum(r is not None and r <= k for r in ranks) / n, 4)

    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    return EvalReport(n, top_k, hit_at(1), hit_at(3), hit_at(5), round(mrr, 4), round(spans / n, 4), misses)
