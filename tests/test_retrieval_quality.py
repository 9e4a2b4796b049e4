"""Retrieval quality with the real default model: the dev target, a second question set, spans, confidence."""

from __future__ import annotations

import pytest

from qa.surfaces.evaluate import evaluate, read_questions
from tests.conftest import DEV_SET, ROOT

pytestmark = pytest.mark.slow

EXTRA_SET = ROOT / "tests" / "data" / "extra_questions.jsonl"
UNANSWERABLE = ROOT / "tests" / "data" / "unanswerable.txt"


def test_dev_set_meets_the_target(real_service):
    if not DEV_SET.exists():
        pytest.skip(f"{DEV_SET} not present")
    report = evaluate(real_service, read_questions(DEV_SET), top_k=10)
    assert report.hit_at_1 >= 0.93 and report.hit_at_5 == 1.0, report


def test_extra_question_set_stays_at_its_measured_level(real_service):
    report = evaluate(real_service, read_questions(EXTRA_SET), top_k=10)
    assert report.hit_at_1 >= 0.85 and report.hit_at_5 >= 0.95 and report.span_at_1 >= 0.75, report


@pytest.mark.parametrize("question", [
    pytest.param("横沥镇有多少名党员？", marks=pytest.mark.xfail(
        reason="known miss since the span choice weighs words rare in the passage: 横沥镇 occurs in two of its "
               "clauses, 党员 and 名 in eight, so the 100多人 clause wins over 全镇共有党员1724名", strict=True)),
    "全镇共有多少名党员？",
    "How many party members does Hengli town have?",
])
def test_the_answer_span_holds_the_number(real_service, question):
    hits = real_service.ask(question, top_k=3)
    hit = next(h for h in hits if "全镇共有党员1724名" in h.text)
    assert "1724" in hit.answer.text and len(hit.answer.text) < len(hit.text)
    assert hit.text[hit.answer.start:hit.answer.end] == hit.answer.text


def test_answerable_questions_are_confident(real_service):
    questions = read_questions(EXTRA_SET) + (read_questions(DEV_SET) if DEV_SET.exists() else [])
    doubtful = [q.q for q in questions if not real_service.answer(q.q, 1).confident]
    # The reader finds no answer to one of the extra set's 29 Chinese questions (BENCHMARKS.md, "The reader"):
    # the target is that nine in ten answerable questions come back confident.
    assert len(doubtful) <= len(questions) // 10, doubtful


def test_questions_the_documents_do_not_answer_are_flagged(real_service):
    questions = [line.strip() for line in UNANSWERABLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    confident = [q for q in questions if real_service.answer(q, 3).confident]
    assert "今天上海的天气怎么样？" not in confident and "What is the capital of France?" not in confident
    # measured on the int8 default (BENCHMARKS.md, Confidence and relevance): two English questions fall just
    # above the cross-script line, which the answerable English questions leave no room to raise
    assert len(confident) <= 2, confident
