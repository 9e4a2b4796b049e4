"""`qa eval`: reading question sets, the metrics, the command."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from qa import QAError, Service
from qa.surfaces import cli
from qa.surfaces.evaluate import (EvalQuestion, beir_file_names, evaluate, first_answer_rank, read_beir, read_questions,
                                  split_gold_documents)
from tests.conftest import DATA


class StubService:
    """Answers each question with fixed passage texts."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers

    def ask(self, question: str, top_k: int):
        return [SimpleNamespace(text=t, answer=SimpleNamespace(text=t[:1], exact=None)) for t in self.answers[question][:top_k]]


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
    good.write_text('{"q": "正式党员有多少名？", "any": ["正式党员1681名"]}\n\n{"q": "bus", "any": ["x", "y", ""]}\n'
                    '{"q": "\\u0000", "any": ["x"]}\n{"q": "ok", "any": [""]}\n', encoding="utf-8")
    # an empty evidence string would match every passage, and a question without words cannot be asked: both dropped
    assert read_questions(good) == [EvalQuestion("正式党员有多少名？", ["正式党员1681名"]), EvalQuestion("bus", ["x", "y"])]
    for name, text, message in [("bad.jsonl", '{"q": "a", "any": ["x"]}\n{"q": "b"}\n', ":2:"),
                                ("json.jsonl", "not json\n", ":1:"),
                                ("string.jsonl", '{"q": "ok", "any": "1724"}\n', ":1:.*list of texts"),
                                ("null.jsonl", '{"q": null, "any": ["x"]}\n', ":1:"),
                                ("list.jsonl", '[1, 2]\n', ":1:"),
                                ("empty.jsonl", "\n", "no questions"),
                                ("noevidence.jsonl", '{"q": "a", "any": []}\n{"q": "", "doc": "x"}\n', "no questions")]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(QAError, match=message):
            read_questions(path)


def test_the_eval_command_prints_metrics_and_misses(tmp_path, fake_embedder, monkeypatch):
    shutil.copytree(DATA, tmp_path / "data")
    service = Service(tmp_path / "data", tmp_path / "index", embedder=fake_embedder)
    monkeypatch.setattr(cli, "_service", lambda *args, **kwargs: service)
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"q": "截止2010年9月底,全镇共有基层党党支部154个", "any": ["基层党党支部154个"]}\n'
        '{"q": "What is the capital of France?", "any": ["巴黎"]}\n', encoding="utf-8")

    run = CliRunner().invoke(cli.main, ["eval", str(questions)])
    assert run.exit_code == 0, run.output
    assert ("2 questions, top 10: hit@1 0.50  hit@3 0.50  hit@5 0.50  hit@10 0.50  MRR@10 0.500  nDCG@10 0.500  "
            "recall@10 0.50  answer span@1 0.50") in run.stdout
    assert "by answer kind: " in run.stdout
    assert "miss (no answer in the top 10): What is the capital of France?" in run.output

    run = CliRunner().invoke(cli.main, ["eval", str(questions), "--json", "--top-k", "3"])
    report = json.loads(run.stdout)
    assert report["hit_at_1"] == 0.5 and report["top_k"] == 3 and report["misses"][0]["rank"] is None
    assert "warning" not in run.stderr

    questions.write_text('{"q": "党员有多少？", "doc": "hengli-2016-party-building.txt", "answers": ["1724"]}\n'
                         '{"q": "馆藏多少册？", "doc": "library.txt", "answers": ["十二万"]}\n', encoding="utf-8")
    run = CliRunner().invoke(cli.main, ["eval", str(questions)])
    assert run.exit_code == 0 and "1 gold document(s) are not in the index" in run.stderr and "library.txt" in run.stderr


def test_the_eval_command_reports_a_bad_file_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n", encoding="utf-8")
    run = CliRunner().invoke(cli.main, ["eval", str(bad), "--data", str(tmp_path), "--index", str(tmp_path / "i")])
    assert run.exit_code == 2 and "bad.jsonl:1:" in run.stderr and "Traceback" not in run.output


def hit(text: str, document: str, answer: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(text=text, document=document, answer=SimpleNamespace(text=answer or text[:2], exact=None))


class DocumentStub:
    """Answers each question with fixed (text, document, span) hits."""

    def __init__(self, answers):
        self.answers = answers
        self.asked: list[int] = []

    def ask(self, question: str, top_k: int):
        self.asked.append(top_k)
        return [hit(*h) for h in self.answers[question]][:top_k]


def test_document_questions_rank_documents_and_check_spans_against_the_answers(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"q": "横沥镇有多少名党员？", "doc": "a.txt", "answers": ["1724名"]}\n'
                    '{"q": "谁是镇长？", "doc": "b.txt", "answers": ["李四"]}\n', encoding="utf-8")
    questions = read_questions(path)
    assert questions[0] == EvalQuestion("横沥镇有多少名党员？", [], {"a.txt": 1.0}, ["1724名"])
    service = DocumentStub({
        "横沥镇有多少名党员？": [("党员1724名", "a.txt", "共有党员1724名"), ("别的", "a.txt")],
        "谁是镇长？": [("x", "c.txt"), ("y", "c.txt"), ("镇长李四", "b.txt", "镇长")],  # b is the 2nd document
    })
    report = evaluate(service, questions, top_k=10)
    assert service.asked == [30, 30]  # more passages, for ten distinct documents
    assert (report.hit_at_1, report.hit_at_3, report.mrr_at_10) == (0.5, 1.0, 0.75)
    assert report.span_at_1 == 0.5 and report.span_lengths.mean == (len("共有党员1724名") + 1) / 2
    assert report.ndcg_at_10 == round((1 + 1 / math.log2(3)) / 2, 4) and report.recall_at_10 == 1.0
    assert [(k.kind, k.questions, k.hit_at_1) for k in report.kinds] == [("quantity", 1, 1.0), ("person", 1, 0.0)]


def test_a_beir_folder_is_read_with_graded_relevance(tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "图书馆", "text": "横沥镇新建了三座图书馆。"}\n'
        '{"_id": "d/2", "title": "", "text": "全镇共有党员1724名。"}\n', encoding="utf-8")
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "党员有多少？"}\n{"_id": "q2", "text": "无关"}\n',
                                        encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td/2\t2\nq1\td1\t1\nq2\td1\t0\n",
                                             encoding="utf-8")
    beir_set = read_beir(beir)
    names = beir_file_names(["d1", "d/2"])
    assert names["d1"] == "d1.txt" and names["d/2"].startswith("d_2-") and names["d/2"].endswith(".txt")
    cased = beir_file_names(["A", "a"])  # one file on a disk that ignores case
    assert cased["A"] == "A.txt" and cased["a"].lower() != "a.txt"
    assert beir_set.documents == {"d1.txt": "图书馆\n横沥镇新建了三座图书馆。\n", names["d/2"]: "全镇共有党员1724名。\n"}
    assert beir_set.questions == [EvalQuestion("党员有多少？", relevant={names["d/2"]: 2.0, "d1.txt": 1.0})]
    with pytest.raises(QAError, match="not a BEIR folder"):
        read_beir(tmp_path)


@pytest.mark.parametrize("corpus, message", [
    ('{"title": "x", "text": "y"}\n', "without an _id"),
    ("[1, 2]\n", "without an _id"),
    ("not json\n", "not a BEIR folder"),
])
def test_a_broken_beir_folder_is_one_error(tmp_path, corpus, message):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(corpus, encoding="utf-8")
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "党员有多少？"}\n', encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
    with pytest.raises(QAError, match=message):
        read_beir(beir)


def test_beir_nulls_and_blank_lines_are_read_as_nothing(tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": 1, "title": null, "text": "全镇共有党员1724名。"}\n', encoding="utf-8")
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "党员有多少？"}\n{"_id": "q2", "text": ""}\n',
                                        encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("\nq1\t1\t1\nq2\t1\t1\n", encoding="utf-8")
    beir_set = read_beir(beir)
    assert beir_set.documents == {"1.txt": "全镇共有党员1724名。\n"}
    assert beir_set.questions == [EvalQuestion("党员有多少？", relevant={"1.txt": 1.0})]


def test_the_eval_command_indexes_a_beir_corpus(tmp_path, monkeypatch, fake_embedder):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    corpus = [{"_id": f"d{i}", "title": f"第{i}号通知", "text": f"横沥镇第{i}号通知：各村要做好第{i}项工作，按时完成。"}
              for i in range(5)]
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in corpus), encoding="utf-8")
    (beir / "queries.jsonl").write_text('{"_id": "q", "text": "第3号通知要做好第3项工作"}\n', encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("q\td3\t1\n", encoding="utf-8")
    made = []

    def service(settings, **kwargs):
        made.append((settings.data, settings.index))
        return Service(settings.data, settings.index, embedder=fake_embedder)

    monkeypatch.setattr(cli, "_service", service)
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path / "cache" / "models"))
    run = CliRunner().invoke(cli.main, ["eval", "--beir", str(beir), "--json"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert report["questions"] == 1 and report["hit_at_1"] == 1.0 and report["span_at_1"] is None
    data_dir, index_dir = made[0]
    assert str(tmp_path / "cache" / "eval") in data_dir and sorted(p.name for p in Path(data_dir).iterdir()) == [
        f"d{i}.txt" for i in range(5)]
    assert Path(index_dir).parent == Path(data_dir).parent


def test_an_abstention_run_keeps_every_other_gold_document():
    questions = [EvalQuestion("甲", relevant={"b.txt": 1.0}), EvalQuestion("乙", relevant={"a.txt": 1.0, "c.txt": 1.0})]
    split = split_gold_documents(questions)
    assert split.kept == ["a.txt", "c.txt"] and split.left_out == ["b.txt"]
