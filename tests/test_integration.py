"""End to end with the real default model: retrieval quality, the CLI contract, the page."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import DEV_SET, ROOT

pytestmark = pytest.mark.slow

FURNITURE = ["Copyright", "版权所有", "当前位置", "联系我们", "广告服务", "暂无评论", "赞助推荐", "ICP备", "责任编辑"]


def dev_questions() -> list[dict]:
    if not DEV_SET.exists():
        pytest.skip(f"{DEV_SET} not present")
    return [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_party_member_question_answered_first(real_service):
    hits = real_service.ask("横沥镇有多少名党员？")
    assert "全镇共有党员1724名" in hits[0].text


def test_english_question_finds_the_chinese_answer(real_service):
    hits = real_service.ask("How many party members does Hengli town have?", top_k=3)
    assert any("全镇共有党员1724名" in h.text for h in hits)


def test_every_dev_question_has_evidence_in_top_5(real_service):
    misses = []
    for item in dev_questions():
        hits = real_service.ask(item["q"], top_k=5)
        if not any(ev in h.text for h in hits for ev in item["any"]):
            misses.append(item["q"])
    assert not misses


@pytest.mark.parametrize("question", [
    "Who owns the copyright of this website?", "How do I contact the advertising department?",
    "版权归谁所有？", "评论", "What is this page about?",
])
def test_boilerplate_never_comes_back(real_service, question):
    for hit in real_service.ask(question, top_k=10):
        assert not any(marker in hit.text for marker in FURNITURE), hit.text


def _qa(args: list[str], service, stdin: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "qa", *args, "--data", str(service.data_dir), "--index", str(service.index_dir)]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300, cwd=ROOT, env=os.environ)


def test_cli_json_contract_with_a_stdin_batch(real_service):
    built = real_service.store.read_manifest()
    questions = ["全镇共有多少名党员？", "How many party members does Hengli town have?", "镇领导驻村是每周几？"]
    run = _qa(["ask", "--json", "--top-k", "3"], real_service, stdin="\n".join(questions) + "\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 3
    answers = [json.loads(line) for line in lines]
    assert [a["question"] for a in answers] == questions
    for a in answers:
        assert len(a["hits"]) == 3
        for key in ("text", "score", "source", "document", "title", "date", "position"):
            assert key in a["hits"][0]
        scores = [h["score"] for h in a["hits"]]
        assert scores == sorted(scores, reverse=True)
    assert "全镇共有党员1724名" in answers[0]["hits"][0]["text"]
    assert all(a["confident"] is True for a in answers)
    answer = answers[0]["hits"][0]["answer"]
    assert "1724" in answer["text"] and answers[0]["hits"][0]["text"][answer["start"]:answer["end"]] == answer["text"]
    # the index built by the fixture was reused: no rebuild said, the same build current
    assert "the index" not in run.stderr and real_service.store.read_manifest() == built


def test_cli_single_question_readable_and_errors(real_service):
    run = _qa(["ask", "横沥镇有多少名党员？"], real_service)
    assert run.returncode == 0 and "全镇共有党员1724名" in run.stdout
    empty = _qa(["ask", "  "], real_service)
    assert empty.returncode == 2 and "question" in empty.stderr and "Traceback" not in empty.stderr


def test_build_demo_renders_inside_another_blocks(real_service):
    import gradio as gr

    from qa.surfaces.page.demo import build_demo
    from qa.surfaces.page.handlers import answer
    from qa.surfaces.page.render import render_hits

    with gr.Blocks() as host:
        gr.Markdown("host app")
        build_demo(real_service).render()
        build_demo(real_service).render()
    assert any(getattr(fn, "api_name", None) == "ask" for fn in host.fns.values())
    result = answer(real_service, "横沥镇有多少名党员？", 3)
    assert "全镇共有党员1724名" in result.hits[0].text and result.confident is True
    assert answer(real_service, "今天上海的天气怎么样？", 3).confident is False
    assert "全镇共有党员1724名" in render_hits(result)
