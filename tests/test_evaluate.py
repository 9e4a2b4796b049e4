"""`qa eval`: reading question sets, the metrics, the command."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from qa import QAError, Service, cli
from qa.evaluate import EvalQuestion, evaluate, first_answer_rank, read_questions
from tests.conftest import DATA


class StubService:
    """Answers each question with fixed passage texts."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers

    def ask(self, question: str, top_k: int):
        return [SimpleNamespace(text=t, answer=SimpleNamespace(text=t[:1])) for t in self.answers[question][:top_k]]


def test_metrics_count_where_the_first_answer_ranks():
    questions = [EvalQuestion("a", ["甲"]), EvalQuestion("b", ["乙", "丙"]), EvalQuestion("c", ["丁"]),
                 EvalQuestion("d", ["戊"])]
    service = StubService({
        "a": ["甲一", "x"],                      # rank 1
        "b": ["x", "y", "含丙的段落"],            # rank 3, second evidence string
        "c": ["x"] * 5 + ["丁"],                 # rank 6
        "d": ["x"] * 10,                        # missing
    })
    report = evaluate(service, questions, top_k=10)
    assert (report.hit_at_1, report.hit_at_3, report.hit_at_5) == (0.25, 0.5, 0.5)
    assert report.mrr_at_10 == round((1 + 1 / 3 + 1 / 6) / 4, 4)
    assert report.span_at_1 == 0.25  # only "甲一" has its answer span ("甲") on the evidence
    assert [(m.question, m.rank, m.first) for m in report.misses] == [("b", 3, "x"), ("c", 6, "x"), ("d", None, "x")]
    assert first_answer_rank([], ["甲"]) is None


def test_question_files_are_checked_line_by_line(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"q": "正式党员有多少名？", "any": ["正式党员1681名"]}\n\n{"q": "b", "any": ["x", "y"]}\n',
                    encoding="utf-8")
    assert read_questions(good) == [EvalQuestion("正式党员有多少名？", ["正式党员1681名"]), EvalQuestion("b", ["x", "y"])]
    for name, text, message in [("bad.jsonl", '{"q": "a", "any": ["x"]}\n{"q": "b"}\n', ":2:"),
                                ("json.jsonl", "not json\n", ":1:"),
                                ("empty.jsonl", "\n", "no questions"),
                                ("noevidence.jsonl", '{"q": "a", "any": []}\n', "must not be empty")]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(QAError, match=message):
            read_questions(path)


def test_the_eval_command_prints_metrics_and_misses(tmp_path, fake_embedder, monkeypatch):
    shutil.copytree(DATA, tmp_path / "data")
    service = Service(tmp_path / "data", tmp_path / "index", embedder=fake_embedder)
    monkeypatch.setattr(cli, "_service", lambda *args: service)
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"q": "截止2010年9月底,全镇共有基层党党支部154个", "any": ["基层党党支部154个"]}\n'
        '{"q": "What is the capital of France?", "any": ["巴黎"]}\n', encoding="utf-8")

    run = CliRunner().invoke(cli.main, ["eval", str(questions)])
    assert run.exit_code == 0, run.output
    assert "2 questions, top 10: hit@1 0.50  hit@3 0.50  hit@5 0.50  MRR@10 0.500  answer span@1 0.50" in run.output
    assert "miss (no answer in the top 10): What is the capital of France?" in run.output

    run = CliRunner().invoke(cli.main, ["eval", str(questions), "--json", "--top-k", "3"])
    report = json.loads(run.output)
    assert report["hit_at_1"] == 0.5 and report["top_k"] == 3 and report["misses"][0]["rank"] is None


def test_the_eval_command_reports_a_bad_file_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n", encoding="utf-8")
    run = CliRunner().invoke(cli.main, ["eval", str(bad), "--data", str(tmp_path), "--index", str(tmp_path / "i")])
    assert run.exit_code == 2 and "bad.jsonl:1:" in run.output and "Traceback" not in run.output
