"""The page's rendering and handlers with the fake embedder: escaping, highlighting, states, uploads, context."""

from __future__ import annotations

import json
import re

import gradio as gr
import pytest

from qa import Answer, Hit, Result
from qa.ui import (
    EMPTY_STATE,
    NO_HITS,
    NOT_CONFIDENT,
    add_files,
    answer,
    build_demo,
    neighbour_texts,
    render_collection,
    render_hits,
)
from tests.conftest import LIBRARY, LIBRARY_BODY

EVIL = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=1\">"


def hit(**fields) -> Hit:
    base = {"text": "横沥镇全镇共有党员1724名，其中正式党员1681名。", "score": 0.9277, "document": "party.txt",
            "title": "根基扎牢", "source": "网络", "author": "", "date": "2016-12-19", "position": 9,
            "start": 0, "end": 24, "heading": "组织建设"}
    return Hit(**base | fields)


def result(*hits: Hit, confident: bool | None = None, error: str | None = None) -> Result:
    return Result("横沥镇有多少名党员？", confident, list(hits), error)


def test_empty_error_and_no_hit_states():
    assert EMPTY_STATE in render_hits(None)
    assert NO_HITS in render_hits(result())
    page = render_hits(result(error="Please type a question. <b>"))
    assert "qa-error" in page and "&lt;b&gt;" in page and "<b>" not in page


def test_a_hit_shows_title_source_date_score_and_a_context_button():
    page = render_hits(result(hit(), hit(score=0.5, position=3)))
    assert page.index("1. 根基扎牢") < page.index("2. 根基扎牢")
    assert "来源：网络" in page and "2016-12-19" in page and "party.txt" in page and "小节：组织建设" in page
    # bars are relative to the best hit: 0.5 against 0.93
    assert "相关度 100%" in page and "width:54%" in page and "相关度 54%" in page
    assert "data-document='party.txt' data-position='9'" in page
    assert "<mark>" not in page


def test_scores_outside_zero_to_one_are_clamped_in_the_bar():
    assert "width:0%" in render_hits(result(hit(score=-0.2)))
    assert "width:100%" in render_hits(result(hit(score=1.3)))


def test_the_answer_is_marked_inside_the_passage():
    text = "截至9月底，全镇共有党员1724名，其中正式党员1681名。"
    start = text.index("全镇")
    end = text.index("，其中")
    page = render_hits(result(hit(text=text, answer=Answer(text[start:end], start, end))))
    assert "截至9月底，<mark>全镇共有党员1724名</mark>，其中正式党员1681名。" in page


@pytest.mark.parametrize("answer_field", [None, Answer("x", 5, 500), Answer("", 3, 3), Answer("x", -1, 2)])
def test_a_missing_or_unusable_answer_shows_the_plain_passage(answer_field):
    page = render_hits(result(hit(answer=answer_field)))
    assert "<mark>" not in page and "横沥镇全镇共有党员1724名，其中正式党员1681名。" in page


def test_the_not_confident_notice_appears_only_when_the_result_says_so():
    assert NOT_CONFIDENT in render_hits(result(hit(), confident=False))
    assert NOT_CONFIDENT not in render_hits(result(hit(), confident=True))
    assert NOT_CONFIDENT not in render_hits(result(hit()))


def test_everything_from_documents_is_escaped():
    text = f"前文{EVIL}后文"
    evil_hit = hit(text=text, title=EVIL, source=EVIL, document="x'\"><script>.txt", heading=EVIL, date=EVIL,
                   answer=Answer(EVIL, 2, 2 + len(EVIL)))
    page = render_hits(result(evil_hit, confident=False))
    assert "<script" not in page and "<img" not in page and "onerror=\"" not in page
    assert "&lt;script&gt;" in page and "<mark>&lt;script&gt;" in page
    assert re.search(r"data-document='x&#x27;&quot;&gt;&lt;script&gt;\.txt'", page)


def test_answer_and_collection_with_a_service(service):
    found = answer(service, "全镇共有基层党党支部154个", 3)
    assert found.error is None and len(found.hits) == 3
    assert "全镇共有基层党党支部154个" in found.hits[0].text
    assert "全镇共有基层党党支部154个" in render_hits(found)
    assert answer(service, "  ", 3).error

    panel = render_collection(service.info())
    assert "文档：<b>2 篇</b>" in panel and "根基扎牢 枝繁叶茂" in panel and "fake-bigram-64" in panel
    assert "hengli-2023-high-quality-development.txt" in panel


def test_collection_titles_are_escaped(service, tmp_path):
    (service.data_dir / "evil.txt").write_text(f"{EVIL}\n来源：测试\n{LIBRARY_BODY}\n", encoding="utf-8")
    panel = render_collection(service.info())
    assert "evil.txt" in panel and "<script" not in panel and "<img" not in panel


def test_add_files_reports_added_and_refused_files(service, tmp_path):
    good, bad = tmp_path / "library.txt", tmp_path / "slides.pdf"
    good.write_text(LIBRARY, encoding="utf-8")
    bad.write_bytes(b"%PDF-1.4")
    status = add_files(service, [str(good), str(bad)])
    assert "已加入资料库：library.txt" in status and "slides.pdf" in status and "qa-error" in status
    assert (service.data_dir / "library.txt").exists() and not (service.data_dir / "slides.pdf").exists()
    assert answer(service, "横沥镇今年新建了三座图书馆，藏书共计十二万册", 1).hits[0].document == "library.txt"


def test_neighbour_texts_for_the_context_button(service):
    top = service.ask("全镇共有基层党党支部154个", top_k=1)[0]
    rows = neighbour_texts(service, [top.document, top.position])
    assert [r["position"] for r in rows] == [top.position - 1, top.position + 1]
    assert [r["text"] for r in rows] == [p.text for p in service.neighbours(top.document, top.position)]
    assert neighbour_texts(service, ["missing.txt", 1]) == []
    assert neighbour_texts(service, [top.document, "not a number"]) == []


def test_build_demo_is_a_fresh_blocks_each_call_and_renders_twice(service):
    first, second = build_demo(service), build_demo(service)
    assert first is not second and first._id != second._id
    with gr.Blocks() as host:
        first.render()
        second.render()
    ask_events = [fn for fn in host.fns.values() if fn.api_name and fn.api_name.startswith("ask")]
    assert len(ask_events) >= 2 and any(fn.api_name == "ask" for fn in ask_events)
    assert all(fn.concurrency_limit == 4 for fn in ask_events)


def test_the_cli_the_page_endpoint_and_the_json_api_give_one_json_form(service, monkeypatch):
    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    import qa.cli
    from qa.web import create_app

    monkeypatch.setattr(qa.cli, "_service", lambda *args: service)
    run = CliRunner().invoke(qa.cli.main, ["ask", "--json", "--top-k", "2", "全镇有多少党员？"])
    assert run.exit_code == 0, run.output
    from_cli = json.loads(run.stdout)
    endpoint = next(fn for fn in build_demo(service).fns.values() if fn.api_name == "ask")
    from_page = endpoint.fn("全镇有多少党员？", 2)
    response = TestClient(create_app(service)).post("/api/ask", json={"question": "全镇有多少党员？", "top_k": 2})
    assert response.status_code == 200
    assert from_cli == from_page == response.json() == service.answer("全镇有多少党员？", 2).as_json()
    assert len(from_cli["hits"]) == 2 and from_cli["hits"][0]["answer"]["text"] and from_cli["error"] is None
