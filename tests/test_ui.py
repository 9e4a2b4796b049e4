"""The page's rendering and handlers with the fake embedder: escaping, highlighting, states, uploads, context."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace

import gradio as gr
import pytest

from qa import Answer, Hit, Result
from qa.core.errors import NotReadyError
from qa.service import WarmUp
from qa.index.base import DocumentInfo, StoredPassage
from qa.read.documents import DocumentMeta
from qa.surfaces.page.demo import build_demo
from qa.surfaces.page.handlers import (
    add_files,
    answer,
    document_html,
    neighbour_texts,
    remember,
    remove_file,
    with_progress,
)
from qa.surfaces.page.render import (
    EMPTY_STATE,
    NO_HITS,
    NOT_CONFIDENT,
    build_share,
    copy_text,
    document_choices,
    in_chinese,
    question_notes,
    render_collection,
    render_document,
    render_hits,
    render_progress,
    render_summary,
    render_warming,
)
from tests.conftest import DEVELOPMENT, LIBRARY, LIBRARY_BODY, PARTY

EVIL = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=1\">"


def hit(**fields) -> Hit:
    base = {"text": "横沥镇全镇共有党员1724名，其中正式党员1681名。", "score": 0.9277, "document": "party.txt",
            "title": "根基扎牢", "source": "网络", "author": "", "date": "2016-12-19", "position": 9,
            "start": 0, "end": 24, "heading": "组织建设", "relevance": "high"}
    return Hit(**base | fields)


def result(*hits: Hit, confident: bool | None = None, error: str | None = None) -> Result:
    return Result("横沥镇有多少名党员？", confident, list(hits), error)


def test_empty_error_and_no_hit_states():
    assert EMPTY_STATE in render_hits(None)
    assert NO_HITS in render_hits(result())
    nothing = render_hits(result(confident=False))  # a question without words: no hits, not confident
    assert NO_HITS in nothing and NOT_CONFIDENT not in nothing and "找到 0" not in nothing
    page = render_hits(result(error="Please type a question. <b>"))
    assert "qa-error" in page and "&lt;b&gt;" in page and "<b>" not in page


def test_a_hit_shows_title_source_date_relevance_and_its_buttons():
    page = render_hits(result(hit(), hit(score=0.5, position=3, relevance="medium")))
    assert page.index("1. 根基扎牢") < page.index("2. 根基扎牢")
    assert "来源：网络" in page and "2016-12-19" in page and "party.txt" in page and "小节：组织建设" in page
    # a fixed scale from hit.relevance, not a share of the best hit's score
    assert "相关度：高" in page and "相关度：中" in page and "相关度 100%" not in page and "qa-bar" not in page
    assert "data-document='party.txt' data-position='9'" in page
    assert page.count("class='qa-more'") == 2 and page.count("class='qa-copy'") == 2
    assert page.count("class='qa-open-doc'") == 2 and "<dialog class='qa-doc'" in page


def test_weak_hits_fold_under_more_and_are_never_marked():
    span = Answer("全镇共有党员1724名", 3, 14)
    page = render_hits(result(hit(answer=span), hit(position=4, relevance="low", answer=span), confident=True))
    strong, weak = page.split("<details class='qa-weak'>")
    assert "<mark>全镇共有党员1724名</mark>" in strong and "相关度：高" in strong
    assert "更多：1 个相关度低的段落" in weak and "相关度：低" in weak and "<mark>" not in weak


def test_a_result_that_does_not_answer_marks_nothing():
    span = Answer("全镇共有党员1724名", 3, 14)
    page = render_hits(result(hit(answer=span, relevance="medium"), hit(relevance="low", answer=span),
                              confident=False))
    assert NOT_CONFIDENT in page and "<mark>" not in page
    assert page.index(NOT_CONFIDENT) < page.index("相关度：中") < page.index("<details")


def test_the_live_region_comes_first_in_every_state():
    for page in (render_hits(None), render_hits(result()), render_hits(result(error="x")),
                 render_hits(result(hit(), hit(relevance="low")))):
        assert page.startswith("<p class='qa-sr' role='status'")
    assert "找到 2 个段落：相关度高 1 个，中 0 个，低 1 个。" in render_hits(result(hit(), hit(relevance="low")))
    assert "data-question='横沥镇有多少名党员？'" in render_hits(result(hit()))
    assert "data-question" not in render_hits(result(error="x"))


def test_notes_tell_about_a_filter_and_a_question_cut_short():
    assert question_notes("短问题", None) == []
    filtered, cut = question_notes("长" * 5000, ["a.txt", "b.txt"])
    assert "2 篇" in filtered and "5000 字" in cut and "2000" in cut
    page = render_hits(result(hit()), [cut])
    assert page.index("qa-note") < page.index("qa-hit")


def test_copy_text_is_the_passage_with_its_citation():
    text = copy_text(hit(page=3, document="report.pdf"))
    assert text == ("横沥镇全镇共有党员1724名，其中正式党员1681名。\n"
                    "——《根基扎牢》，来源：网络，2016-12-19，文件：report.pdf，第 3 页")
    assert copy_text(hit(title="", source="", date="")).endswith("\n——文件：party.txt")


def test_the_answer_is_marked_inside_the_passage():
    text = "截至9月底，全镇共有党员1724名，其中正式党员1681名。"
    start = text.index("全镇")
    end = text.index("，其中")
    page = render_hits(result(hit(text=text, answer=Answer(text[start:end], start, end)), confident=True))
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
                   answer=Answer(EVIL, 2, 2 + len(EVIL)), page=2)
    page = render_hits(result(evil_hit, hit(relevance="low", title=EVIL), confident=True), [EVIL])
    assert "<script" not in page and "<img" not in page and "onerror=\"" not in page
    assert "&lt;script&gt;" in page and "<mark>&lt;script&gt;" in page
    assert re.search(r"data-document='x&#x27;&quot;&gt;&lt;script&gt;\.txt'", page)
    # the copy text sits in an attribute: quotes and angle brackets are entities there
    copy = re.search(r"data-copy='([^']*)'", page).group(1)
    assert "<" not in copy and "'" not in copy and "&lt;script&gt;" in copy
    asked = render_hits(Result(EVIL + "'", True, [hit()]))
    assert "<script" not in asked and "data-question='&lt;script&gt;" in asked and "&#x27;'" in asked


def passage(position: int, text: str, page: int | None = None, heading: str = "", **fields) -> StoredPassage:
    base = dict(document="report.pdf", position=position, text=text, start=0, end=len(text), heading=heading,
                page=page, meta=DocumentMeta(title="年度报告", source="镇政府", date="2024-01-01"))
    return StoredPassage(**base | fields)


def test_the_document_viewer_shows_pages_sections_and_marks_the_passage():
    passages = [passage(0, "第一段", 1, "概况"), passage(1, "第二段", 1, "概况"), passage(2, "第三段", 2, "党建")]
    page = render_document(passages, 1)
    assert page.index("年度报告") < page.index("第 1 页") < page.index("概况") < page.index("第一段")
    assert page.index("第二段") < page.index("第 2 页") < page.index("党建") < page.index("第三段")
    assert page.count("第 1 页") == 1 and page.count(">概况<") == 1
    assert "<p class='qa-para qa-here' tabindex='-1' aria-current='true' data-position='1'>第二段</p>" in page
    assert page.count("qa-here") == 1 and "3 段" in page


def test_the_document_viewer_escapes_everything():
    passages = [passage(0, EVIL, heading=EVIL, meta=DocumentMeta(EVIL, source=EVIL, date=EVIL), document=EVIL)]
    page = render_document(passages, 0)
    assert "<script" not in page and "<img" not in page and page.count("&lt;script&gt;") >= 5


def test_document_html_for_the_viewer(service):
    top = service.ask("全镇共有基层党党支部154个", top_k=1)[0]
    page = document_html(service, [top.document, top.position])
    assert "qa-here" in page and html_text(top.text) in page
    assert page.count("class='qa-para") == len(service.document(top.document))
    assert "qa-error" in document_html(service, ["missing.txt", 1]) and "missing.txt" in document_html(
        service, ["missing.txt", 1])
    assert "qa-error" in document_html(service, [top.document, "1"])
    assert "qa-error" in document_html(service, "nonsense")
    assert "&lt;script&gt;" in document_html(service, ["<script>.txt", 0])


def html_text(text: str) -> str:
    import html

    return html.escape(text)


def test_document_choices_are_titles_with_the_file_when_needed():
    docs = [DocumentInfo("a.txt", DocumentMeta("同名"), 1), DocumentInfo("b.txt", DocumentMeta("同名"), 1),
            DocumentInfo("c.txt", DocumentMeta(), 1), DocumentInfo("d.txt", DocumentMeta(EVIL), 1)]
    assert document_choices(docs) == [("同名（a.txt）", "a.txt"), ("同名（b.txt）", "b.txt"), ("c.txt", "c.txt"),
                                      (EVIL, "d.txt")]  # plain text: the dropdown shows it as text


def test_the_summary_names_the_collection_and_escapes_titles(service):
    (service.data_dir / "evil.txt").write_text(f"{EVIL}\n来源：测试\n{LIBRARY_BODY}\n", encoding="utf-8")
    info = service.info()
    page = render_summary(info)
    assert f"资料库：3 篇文档，{info.passages} 个段落" in page and "根基扎牢 枝繁叶茂" in page
    assert "<script" not in page and "<img" not in page and "evil.txt" in page


def test_progress_and_warm_up_banners():
    page = render_progress(1.7, "（1/1）<b>.txt：切分 100%")
    assert "aria-valuenow='100'" in page and "width:100%" in page and "&lt;b&gt;" in page and "<b>" not in page
    assert "aria-valuenow='0'" in render_progress(-1, "x")
    assert render_warming(None) == ""
    state = WarmUp()
    assert "正在建立索引…准备 0%" in render_warming(state)
    state.report("embed", 30, 120)
    # a quarter of the embedding, after reading and splitting: one bar over the whole build
    assert "正在建立索引…向量化 34%" in render_warming(state) and "aria-valuenow='34'" in render_warming(state)
    state.stage = "load"
    assert "正在加载模型" in render_warming(state)
    state.error = "无法建立索引。<x>"
    state.finished.set()
    assert "qa-error" in render_warming(state) and "&lt;x&gt;" in render_warming(state)


def test_the_warm_up_banner_names_the_model_step_and_the_time_it_took(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    state = WarmUp(stage="model")
    state.begin("model", "embedder")
    clock[0] += 42.6
    banner = render_warming(state)
    assert "正在准备模型（首次启动需要转换模型，约一两分钟）…向量模型，已用 42 秒" in banner
    assert "aria-valuenow" not in banner and "qa-busy" in banner  # it cannot say how far it is
    state.begin("model", "reader")
    assert "正在准备模型…阅读模型，已用 0 秒" in render_warming(state)  # a cached model: no word of converting
    clock[0] += 4.9
    assert "首次启动" not in render_warming(state)
    state.begin("build")
    assert "正在建立索引…准备 0%" in render_warming(state)


def test_a_warm_up_prepares_the_models_before_it_builds(folders, fake_embedder, monkeypatch):
    from qa.service import Service

    service = Service(*folders)
    seen = []
    state = WarmUp(stage="model")

    def make(settings):
        seen.append((state.stage, state.model_step, state.build_stage))
        return fake_embedder

    monkeypatch.setattr("qa.service.make_embedder", make)
    monkeypatch.setattr(Service, "reader", property(lambda self: seen.append((state.stage, state.model_step))))
    service.warming = state
    assert answer(service, "党员", 3).error.startswith("正在加载模型")  # the model stage: "loading the model"
    service.warm_up(state)
    # the models first, then the build (its stages reported), then the load
    assert seen[:2] == [("model", "embedder", ""), ("model", "reader")] and state.stage == "load"
    assert state.build_stage == "write"
    service.close()


def test_with_progress_yields_the_newest_report_then_the_result():
    def work(progress):
        progress(0.5, desc="一半")
        return "<p>好了</p>"

    steps = list(with_progress(work))
    assert steps[-1] == (True, "<p>好了</p>") and all(not done for done, _ in steps[:-1])
    assert "一半" in steps[0][1]


def test_remember_keeps_a_short_list_of_recent_questions():
    assert remember("问题一", None) == ["问题一"]
    assert remember(" 问题二 ", ["问题一"]) == ["问题二", "问题一"]
    assert remember("问题一", ["问题二", "问题一"]) == ["问题一", "问题二"]
    assert remember("", ["问题一"]) == ["问题一"]
    assert len(remember("新", [str(n) for n in range(20)])) == 8
    assert remember("x", [1, None, "y"]) == ["x", "y"]


def test_answer_and_collection_with_a_service(service):
    found = answer(service, "全镇共有基层党党支部154个", 3)
    assert found.error is None and len(found.hits) == 3
    assert "全镇共有基层党党支部154个" in found.hits[0].text
    assert "全镇共有基层党党支部154个" in render_hits(found)
    assert answer(service, "  ", 3).error

    panel = render_collection(service.info())
    assert "文档：<b>2 篇</b>" in panel and "根基扎牢 枝繁叶茂" in panel and "fake-bigram-64" in panel
    assert "hengli-2023-high-quality-development.txt" in panel
    assert "检索：<b>语义 + 关键词</b>" in panel
    assert "检索：<b>仅语义（无关键词检索）</b>" in render_collection(replace(service.info(), lexical=False))


def test_collection_titles_are_escaped(service, tmp_path):
    (service.data_dir / "evil.txt").write_text(f"{EVIL}\n来源：测试\n{LIBRARY_BODY}\n", encoding="utf-8")
    panel = render_collection(service.info())
    assert "evil.txt" in panel and "<script" not in panel and "<img" not in panel


def test_add_files_reports_added_and_refused_files(service, tmp_path):
    good, bad, kind = tmp_path / "library.txt", tmp_path / "slides.pdf", tmp_path / "photo.png"
    good.write_text(LIBRARY, encoding="utf-8")
    bad.write_bytes(b"%PDF-1.4")
    kind.write_bytes(b"\x89PNG")
    reports = []
    status = add_files(service, [str(good), str(bad), str(kind)], lambda share, desc: reports.append(desc))
    assert "已加入资料库：library.txt" in status and "slides.pdf" in status and "qa-error" in status
    assert "只支持以下文件类型" in status and "photo.png" in status  # a wrong type is refused in Chinese first
    assert (service.data_dir / "library.txt").exists() and not (service.data_dir / "slides.pdf").exists()
    assert answer(service, "横沥镇今年新建了三座图书馆，藏书共计十二万册", 1).hits[0].document == "library.txt"
    assert reports and all("library.txt" in r for r in reports) and "（1/3）library.txt：写入 33%" in reports


def test_an_upload_shows_one_progress_that_only_grows_to_100(service, tmp_path):
    names = ["library.txt", "museum.txt"]
    (tmp_path / names[0]).write_text(LIBRARY, encoding="utf-8")
    (tmp_path / names[1]).write_text(LIBRARY.replace("图书馆", "博物馆"), encoding="utf-8")
    reports = []
    add_files(service, [str(tmp_path / name) for name in names], lambda share, desc: reports.append((share, desc)))
    shares = [share for share, _ in reports]
    shown = [int(re.search(r"(\d+)%$", desc)[1]) for _, desc in reports]
    assert shares == sorted(shares) and shown == sorted(shown) and shares[-1] == 1.0
    assert {desc.split("：")[1].split()[0] for _, desc in reports} >= {"读取", "向量化", "写入"}
    assert reports[-1][1] == "（2/2）museum.txt：写入 100%"
    assert build_share("", 0, 0) == 0.0 and build_share("write", 0, 1) < build_share("write", 1, 1) == 1.0


def test_uploads_are_refused_in_chinese_only(service, tmp_path):
    files = {"empty.txt": b"", "binary.txt": b"\x00\x01abc" * 20, "menu.txt": "首页 | 新闻 | 联系我们\n".encode(),
             PARTY: LIBRARY.encode()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    status = add_files(service, [str(tmp_path / name) for name in files])
    assert "empty.txt 是空文件" in status and "binary.txt 是二进制文件" in status
    assert "menu.txt 中没有可检索的正文。" in status and f"资料库中已有同名文档 {PARTY}" in status
    assert status.count("qa-error") == len(files)
    words = re.sub(r"[\w.-]+\.txt|class='qa-error'|</?p\b", "", status)  # the page's words, without names and markup
    assert not re.search("[A-Za-z]", words), words


def test_known_english_messages_are_shown_in_chinese_and_others_as_they_are():
    assert in_chinese("a.pdf took longer than 30 s to read (QA_READ_SECONDS), so it was stopped. The file was "
                      "skipped.") == "a.pdf 读取超过 30 秒，已停止。已跳过这个文件。"
    assert in_chinese("正在建立索引，请稍候。/ The index is being built, please wait.") == "正在建立索引，请稍候。"
    assert in_chinese("已从资料库移除：a.txt。文件保存在 removed/ 下。") == "已从资料库移除：a.txt。文件保存在 removed/ 下。"
    assert in_chinese("Milvus at x refused search") == "Milvus at x refused search"
    assert "请输入问题。" in render_hits(result(error="请输入问题。/ Please type a question."))
    assert "Please" not in render_hits(result(error="请输入问题。/ Please type a question."))
    failed = WarmUp(error="No readable documents in /data: put .txt, .md, .html, .pdf or .docx files there.")
    failed.finished.set()
    assert "资料文件夹中没有可以读取的文档。" in render_warming(failed)


def test_remove_file_takes_a_document_out_for_good(service):
    reports = []
    status = remove_file(service, PARTY, lambda share, desc: reports.append(desc))
    assert "已从资料库移除" in status and PARTY in status and reports
    assert {d.document for d in service.documents()} == {DEVELOPMENT}
    assert all(h.document != PARTY for h in answer(service, "全镇共有基层党党支部154个", 10).hits)
    assert "qa-error" in remove_file(service, PARTY) and "资料库中没有文档" in remove_file(service, PARTY)


def test_answer_searches_the_chosen_documents_only(service):
    assert {h.document for h in answer(service, "全镇共有基层党党支部154个", 10, [DEVELOPMENT]).hits} == {DEVELOPMENT}
    assert {h.document for h in answer(service, "全镇共有基层党党支部154个", 20, []).hits} == {PARTY, DEVELOPMENT}
    assert "资料库中没有这些文档" in answer(service, "党员", 3, ["gone.txt"]).error


def test_questions_wait_for_a_warm_up_in_the_background(service):
    from fastapi.testclient import TestClient

    from qa.surfaces.web import create_app

    service.warming = WarmUp()  # as warm_up_in_background leaves it while building
    found = answer(service, "全镇有多少党员？", 3)
    assert found.error.startswith("正在建立索引，请稍候")
    response = TestClient(create_app(service)).post("/api/ask", json={"question": "全镇有多少党员？"})
    assert response.status_code == 503 and response.json()["detail"].startswith("正在建立索引")
    assert response.headers["retry-after"]
    service.warming.stage = "load"
    assert answer(service, "全镇有多少党员？", 3).error.startswith("正在加载模型")
    service.warming.finished.set()
    assert answer(service, "全镇有多少党员？", 3).hits


def test_a_background_warm_up_builds_then_answers(folders, fake_embedder):
    from qa.service import Service

    service = Service(*folders, embedder=fake_embedder)
    state = service.warm_up_in_background()
    assert state.finished.wait(60) and state.error is None and state.stage == "load"
    assert state.build_stage == "write" and state.done == state.total
    assert answer(service, "全镇有多少党员？", 3).hits
    service.close()


def test_neighbour_texts_for_the_context_button(service):
    top = service.ask("全镇共有基层党党支部154个", top_k=1)[0]
    rows = neighbour_texts(service, [top.document, top.position])
    assert [r["position"] for r in rows] == [top.position - 1, top.position + 1]
    assert [r["text"] for r in rows] == [p.text for p in service.neighbours(top.document, top.position)]
    assert neighbour_texts(service, ["missing.txt", 1]) == []
    assert neighbour_texts(service, [top.document, "not a number"]) == []
    # a service that cannot answer now is not "no neighbours": the error reaches the page, which offers a retry
    service.warming = WarmUp()  # a background warm-up that has not finished
    with pytest.raises(NotReadyError):
        neighbour_texts(service, [top.document, top.position])
    service.warming = None


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

    import qa.surfaces.cli
    from qa.surfaces.web import create_app

    monkeypatch.setattr(qa.surfaces.cli, "_service", lambda *args, **kwargs: service)
    run = CliRunner().invoke(qa.surfaces.cli.main, ["ask", "--json", "--top-k", "2", "全镇有多少党员？"])
    assert run.exit_code == 0, run.output
    from_cli = json.loads(run.stdout)
    endpoint = next(fn for fn in build_demo(service).fns.values() if fn.api_name == "ask")
    from_page = endpoint.fn("全镇有多少党员？", 2)
    response = TestClient(create_app(service)).post("/api/ask", json={"question": "全镇有多少党员？", "top_k": 2})
    assert response.status_code == 200
    assert from_cli == from_page == response.json() == service.answer("全镇有多少党员？", 2).as_json()
    assert len(from_cli["hits"]) == 2 and from_cli["hits"][0]["answer"]["text"] and from_cli["error"] is None


def test_the_exact_answer_phrase_is_bold_inside_the_mark():
    from qa.answer.span import Phrase

    text = "截至9月底，全镇共有党员1724名，其中正式党员1681名。"
    start, end = text.index("全镇"), text.index("，其中")
    exact = Phrase("1724名", text.index("1724"), text.index("1724") + 5)
    page = render_hits(result(hit(text=text, relevance="high", answer=Answer(text[start:end], start, end, exact)),
                              confident=True))
    assert "<mark>全镇共有党员<b class='qa-exact'>1724名</b></mark>，其中" in page
    outside = Phrase("1681名", text.index("1681"), text.index("1681") + 5)  # not inside the span: no bold
    page = render_hits(result(hit(text=text, relevance="high", answer=Answer(text[start:end], start, end, outside)),
                              confident=True))
    assert "<mark>全镇共有党员1724名</mark>" in page and "qa-exact" not in page
