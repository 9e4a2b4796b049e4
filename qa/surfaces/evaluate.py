"""Retrieval quality on a question set: hit@k, MRR@10, nDCG@10, recall@10, answer span@1, by answer kind.

Three kinds of question sets are read:

- JSON lines with evidence strings, {"q": ..., "any": [...]}: a passage answers when it contains one;
- JSON lines naming the gold document, {"q": ..., "doc": "file.txt", "answers": [...]}: a passage answers
  when it comes from that file, and an answer span is right when it contains one of the answers;
- a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv): graded relevance of documents.

Questions with a gold document are ranked by document (the first passage of each), the others by passage.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from qa.core.errors import QAError
from qa.core.kinds import question_kind
from qa.core.overlap import char_f1, exact_match
from qa.core.settings import MAX_TOP_K
from qa.core.text import has_words

log = logging.getLogger("qa")


@dataclass
class EvalQuestion:
    """A question and what counts as answering it: evidence strings, or relevant documents and answer texts."""

    q: str
    any: list[str] = field(default_factory=list)  # a passage containing one of these answers
    relevant: dict[str, float] = field(default_factory=dict)  # documents that answer, with their grade (> 0)
    answers: list[str] = field(default_factory=list)  # the answer span is right when it contains one of these

    def grades(self, hits) -> list[float]:
        """The relevance of each ranked unit: distinct documents for document questions, else passages."""
        if self.relevant:
            documents = list(dict.fromkeys(h.document for h in hits))
            return [self.relevant.get(d, 0.0) for d in documents]
        return [1.0 if any(e in h.text for e in self.any) else 0.0 for h in hits]

    def span_right(self, hit) -> bool | None:
        """Whether the hit's answer span holds an answer (None when the question has no answer texts)."""
        texts = self.answers or self.any
        if not texts:
            return None
        return bool(hit.answer) and any(t in hit.answer.text for t in texts)

    def exact_scores(self, hit) -> tuple[float, float] | None:
        """EM and F1 of the hit's exact answer (its span when it has none) against the answer texts, or None."""
        if not self.answers:
            return None
        guess = "" if not hit or not hit.answer else (hit.answer.exact or hit.answer).text
        return exact_match(guess, self.answers), char_f1(guess, self.answers)


@dataclass
class Miss:
    """A question whose first hit is not an answer: where the first answer ranked (None: not in the top k)."""

    question: str
    rank: int | None
    first: str


@dataclass
class KindScore:
    """The scores of the questions asking for one kind of answer."""

    kind: str
    questions: int
    hit_at_1: float
    span_at_1: float | None


@dataclass
class SpanLengths:
    """Lengths in characters of the first hits' answer spans."""

    mean: float
    median: float
    p90: float


@dataclass
class EvalReport:
    """Scores over a question set; hit@k is the share of questions with an answer in the first k results.

    `span_at_1` is the share whose first hit's answer span holds an answer (None when no question has answer texts).
    """

    questions: int
    top_k: int
    hit_at_1: float
    hit_at_3: float
    hit_at_5: float
    hit_at_10: float
    mrr_at_10: float
    ndcg_at_10: float
    recall_at_10: float
    span_at_1: float | None
    exact_em: float | None  # the first hit's exact answer against the answer texts (CMRC 2018's EM and F1)
    exact_f1: float | None
    span_lengths: SpanLengths
    kinds: list[KindScore]
    misses: list[Miss]


@dataclass
class AbstentionReport:
    """Confidence with every other gold document left out of the index (`qa eval --abstention`)."""

    gone: int  # questions whose gold document was left out
    gone_not_confident: float  # the share of those that came back not confident
    kept: int
    kept_confident_right: float  # the share of the rest that came back confident, their document first


class Answerer(Protocol):
    """What `evaluate` asks of a service: a Service, or a peer wrapped to look like one (bench/)."""

    def ask(self, question: str, top_k: int) -> list: ...


def read_questions(path: str | Path) -> list[EvalQuestion]:
    """Questions from a JSON-lines file of {"q", "any"} or {"q", "doc", "answers"}; blank lines are skipped."""
    items = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise QAError(f"Cannot read the question file {path}: {e}") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = _question(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise QAError(f'{path}:{n}: expected {{"q": "...", "any": ["...", ...]}} or '
                          f'{{"q": "...", "doc": "file", "answers": ["...", ...]}} ({e}).') from e
        if not has_words(item.q) or not (item.any or item.relevant):  # public sets have a few: skip, say so
            log.warning("%s:%d: an empty question, or one with nothing to check it against, was skipped.", path, n)
            continue
        items.append(item)
    if not items:
        raise QAError(f"{path} holds no questions.")
    return items


def _question(row: dict) -> EvalQuestion:
    """One line of a question file; TypeError or KeyError when a field is missing or of the wrong type."""
    if "any" not in row and "doc" not in row:
        raise KeyError("any")
    doc = row.get("doc")
    if not isinstance(row["q"], str) or not isinstance(doc, (str, type(None))):
        raise TypeError('"q" and "doc" are text')
    return EvalQuestion(row["q"], _texts(row, "any"), {doc: 1.0} if doc else {}, _texts(row, "answers"))


def _texts(row: dict, key: str) -> list[str]:
    """A list of texts; empty ones are dropped (every passage contains the empty string)."""
    texts = row.get(key, [])
    if not isinstance(texts, list) or not all(isinstance(t, (str, int, float)) for t in texts):
        raise TypeError(f'"{key}" is a list of texts')
    return [str(t) for t in texts if str(t).strip()]


@dataclass
class BeirSet:
    """A BEIR folder as documents ({file name: text}) and questions whose relevant documents are those files."""

    documents: dict[str, str]
    questions: list[EvalQuestion]


def read_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """Read a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv); its corpus ids become file names."""
    folder = Path(folder)
    try:
        corpus = [_beir_row(line, "corpus.jsonl") for line in (folder / "corpus.jsonl").read_text(encoding="utf-8")
                  .splitlines() if line.strip()]
        queries = {(q := _beir_row(line, "queries.jsonl"))["_id"]: q["text"]
                   for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()}
        with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8", newline="") as f:
            rows = [row for row in csv.reader(f, delimiter="\t") if row]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise QAError(f"{folder} is not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/{split}.tsv): {e}") from e
    names = beir_file_names([d["_id"] for d in corpus])
    documents = {names[d["_id"]]: f"{d['title']}\n{d['text']}\n".lstrip("\n") for d in corpus}
    relevant: dict[str, dict[str, float]] = {}
    for row in rows[1:] if rows and not _is_number(rows[0][-1]) else rows:  # a header line is optional
        if len(row) >= 3 and row[1] in names and _is_number(row[2]) and float(row[2]) > 0:
            relevant.setdefault(row[0], {})[names[row[1]]] = float(row[2])
    questions = [EvalQuestion(queries[q], relevant=docs) for q, docs in relevant.items() if q in queries]
    if empty := sum(not has_words(q.q) for q in questions):
        log.warning("%s: %d queries without text were skipped.", folder / "queries.jsonl", empty)
        questions = [q for q in questions if has_words(q.q)]
    if not questions:
        raise QAError(f"{folder}: no query in qrels/{split}.tsv has a relevant document in corpus.jsonl.")
    return BeirSet(documents, questions)


def _beir_row(line: str, file: str) -> dict[str, str]:
    """One line of corpus.jsonl or queries.jsonl: its _id, title and text as strings (a missing title or text is
    empty); ValueError names the file when the line is not such an object."""
    row = json.loads(line)
    if not isinstance(row, dict) or row.get("_id") is None:
        raise ValueError(f"{file}: a line without an _id: {line[:80]}")
    return {"_id": str(row["_id"]), **{key: "" if row.get(key) is None else str(row[key]) for key in ("title", "text")}}


def beir_file_names(ids: list[str]) -> dict[str, str]:
    """A distinct plain .txt file name for each corpus id, also on a disk that ignores case."""
    names, taken = {}, set()
    for i in ids:
        safe = re.sub(r"[^\w.-]", "_", i).strip(".")[:80] or "doc"
        if f"{safe}.txt".lower() in taken or safe != i:
            safe = f"{safe}-{hashlib.sha1(i.encode()).hexdigest()[:8]}"
        names[i] = f"{safe}.txt"
        taken.add(names[i].lower())
    return names


def write_documents(documents: dict[str, str], data_dir: Path) -> None:
    """Make data_dir hold exactly these documents ({file name: text}); files already right are left as they are."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("*.txt"):
        if old.name not in documents:
            old.unlink()
    for name, text in documents.items():
        path = data_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def first_answer_rank(texts: list[str], evidence: list[str]) -> int | None:
    """1-based rank of the first text containing any evidence string, or None."""
    return next((rank for rank, text in enumerate(texts, 1) if any(e in text for e in evidence)), None)


def evaluate(service: Answerer, questions: list[EvalQuestion], top_k: int = 10,
             on_question: Callable[[], None] | None = None) -> EvalReport:
    """Ask every question of `service` and score where its answers rank and whether the first span holds one."""
    ranks, ndcg, recall, spans, lengths, misses, exact = [], [], [], [], [], [], []
    by_kind: dict[str, list[tuple[bool, bool | None]]] = {}
    for item in questions:
        # A document question ranks documents: ask for more passages, so that top_k distinct ones come back.
        hits = service.ask(item.q, min(MAX_TOP_K, 3 * top_k) if item.relevant else top_k)
        grades = item.grades(hits)[:top_k]
        rank = next((r for r, g in enumerate(grades, 1) if g > 0), None)
        ranks.append(rank)
        # Evidence questions do not say how many passages hold the evidence: the ideal is the ones found.
        ideal = sorted(item.relevant.values(), reverse=True) or [1.0] * max(1, sum(g > 0 for g in grades[:10]))
        ndcg.append(_ndcg(grades[:10], ideal))
        recall.append(sum(g > 0 for g in grades[:10]) / max(1, len(item.relevant)) if item.relevant else float(
            rank is not None and rank <= 10))
        span = item.span_right(hits[0]) if hits else (False if item.answers or item.any else None)
        spans.append(span)
        if (scores := item.exact_scores(hits[0] if hits else None)) is not None:
            exact.append(scores)
        if hits and hits[0].answer:
            lengths.append(len(hits[0].answer.text))
        by_kind.setdefault(question_kind(item.q), []).append((rank == 1, span))
        if rank != 1:
            misses.append(Miss(item.q, rank, hits[0].text if hits else ""))
        if on_question:
            on_question()

    def hit_at(k: int) -> float:
        return _share([r is not None and r <= k for r in ranks])

    return EvalReport(
        questions=len(questions), top_k=top_k, hit_at_1=hit_at(1), hit_at_3=hit_at(3), hit_at_5=hit_at(5),
        hit_at_10=hit_at(10), mrr_at_10=_mean([1 / r if r is not None and r <= 10 else 0.0 for r in ranks]),
        ndcg_at_10=_mean(ndcg), recall_at_10=_mean(recall), span_at_1=_share_known(spans),
        exact_em=_mean([em for em, _ in exact]) if exact else None,
        exact_f1=_mean([f1 for _, f1 in exact]) if exact else None,
        span_lengths=SpanLengths(round(statistics.mean(lengths), 1) if lengths else 0.0,
                                 float(statistics.median(lengths)) if lengths else 0.0,
                                 float(sorted(lengths)[int(0.9 * (len(lengths) - 1))]) if lengths else 0.0),
        kinds=[KindScore(kind, len(rows), _share([h for h, _ in rows]), _share_known([s for _, s in rows]))
               for kind, rows in sorted(by_kind.items(), key=lambda kv: -len(kv[1]))],
        misses=misses,
    )


@dataclass
class GoldSplit:
    """The gold documents in name order, cut in two: every other one kept, the rest left out."""

    kept: list[str]
    left_out: list[str]


def split_gold_documents(questions: list[EvalQuestion]) -> GoldSplit:
    """Cut the questions' gold documents in two, for an abstention run."""
    documents = sorted({d for q in questions for d in q.relevant})
    return GoldSplit(documents[::2], documents[1::2])


def abstention(service, questions: list[EvalQuestion], gone: set[str],
               on_question: Callable[[], None] | None = None) -> AbstentionReport:
    """Ask every question of a service indexed without the `gone` documents: does it say when it cannot answer?"""
    away, here = [], []
    for item in questions:
        result = service.answer(item.q, top_k=1)
        if set(item.relevant) & gone:
            away.append(result.confident is not True)
        else:
            here.append(bool(result.confident) and bool(result.hits) and result.hits[0].document in item.relevant)
        if on_question:
            on_question()
    return AbstentionReport(len(away), _share(away), len(here), _share(here))


def _ndcg(grades: list[float], ideal: list[float]) -> float:
    def dcg(gains: list[float]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))

    best = dcg(ideal[:10])
    return dcg(grades) / best if best else 0.0


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def _share_known(flags: list[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return _share(known) if known else None


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
