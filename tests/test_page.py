"""The page's parts alone: handlers called with the fake service, no Gradio server; the layout; CSS and JS shipped."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import zipfile
from dataclasses import replace
from datetime import datetime
from importlib import resources
from types import SimpleNamespace

import gradio as gr

from qa.service import WarmUp
from qa.surfaces.page import handlers
from qa.surfaces.page.demo import build_demo
from qa.surfaces.page.handlers import bind
from qa.surfaces.page.layout import CSS, RESULTS_JS, TIMES_JS, layout
from qa.surfaces.page.render import render_collection
from tests.conftest import DEVELOPMENT, LIBRARY, PARTY, ROOT

QUESTION = "全镇共有基层党党支部154个"


def test_ask_and_show_an_answer(service):
    data = handlers.ask(service, QUESTION, 2)
    assert data["question"] == QUESTION and len(data["hits"]) == 2 and data["error"] is None
    page = handlers.show(data, QUESTION, [PARTY])
    assert "只在选定的 1 篇文档中查找" in page and page.count("class='qa-hit") == 2
    assert "qa-empty" in handlers.show(None, "", None)


def test_each_hit_button_names_its_hit(service):
    data = handlers.ask(service, QUESTION, 5)
    page = handlers.show(data, QUESTION, None)
    for verb in ("查看上下文", "复制"):
        names = re.findall(f"aria-label='{verb}：([^']*)'", page)
        assert len(names) == len(data["hits"]) == len(set(names))
        hit = data["hits"][0]
        assert names[0] == f"{hit['title'] or hit['document']} 第{hit['position'] + 1}段"


def test_a_question_in_the_address_fills_an_empty_box_and_is_asked_once_there(service):
    link = SimpleNamespace(query_params={"q": f" {QUESTION} "})
    assert handlers.from_url("", link) == (QUESTION, QUESTION)
    typed, asked = handlers.from_url("已经输入的问题", link)  # never over what was typed
    assert isinstance(typed, type(gr.skip())) and asked == QUESTION
    assert handlers.from_url("", SimpleNamespace(query_params={}))[1] == ""
    assert handlers.ask_if_any(service, QUESTION, 1, None, QUESTION)["hits"]
    assert isinstance(handlers.ask_if_any(service, "已经输入的问题", 1, None, QUESTION), type(gr.skip()))
    assert isinstance(handlers.ask_if_any(service, QUESTION, 1, None, ""), type(gr.skip()))


def test_recent_questions_are_kept_and_listed():
    kept, listed = handlers.keep("新问题", ["旧问题"], {"question": "新问题", "error": None, "hits": []})
    assert kept == ["新问题", "旧问题"] and listed.raw_samples == [["新问题"], ["旧问题"]] and listed.visible
    assert handlers.recent_list(None).visible is False
    assert handlers.pick_recent(["旧问题"]) == "旧问题"


def test_questions_that_failed_or_have_no_words_are_not_kept(service):
    skip = type(gr.skip())
    for question in ("!!!", "?", "", "   "):
        kept = handlers.keep(question, ["旧问题"], handlers.ask(service, question, 5))
        assert all(isinstance(part, skip) for part in kept), question
    service.warming = WarmUp()  # still building: the question is refused
    refused = handlers.ask(service, QUESTION, 5)
    service.warming = None
    assert refused["error"] and all(isinstance(part, skip) for part in handlers.keep(QUESTION, [], refused))
    assert all(isinstance(part, skip) for part in handlers.keep(QUESTION, [], None))


def test_a_question_asked_during_the_warm_up_is_answered_once_it_ends(service):
    service.warming = WarmUp()  # a background warm-up that has not finished
    refused = handlers.ask(service, QUESTION, 2)
    shown = handlers.show(refused, QUESTION, None)
    assert "qa-notice" in shown and "qa-error" not in shown and "准备好后会自动回答这个问题" in shown
    answered = {}
    waiting = threading.Thread(target=lambda: answered.update(
        out=handlers.answer_when_ready(service, refused, QUESTION, 2, None, ["旧问题"])))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # waits for the warm-up
    service.warming.finished.set()
    waiting.join(10)
    results, kept, listed = answered["out"]
    assert results.count("class='qa-hit") == 2 and kept == [QUESTION, "旧问题"] and listed.visible
    skip = type(gr.skip())
    moved_on = handlers.answer_when_ready(service, refused, "另一个问题", 2, None, [])  # the box changed meanwhile
    assert all(isinstance(part, skip) for part in moved_on)
    answered_at_once = handlers.ask(service, QUESTION, 2)
    assert all(isinstance(part, skip) for part in handlers.answer_when_ready(service, answered_at_once, QUESTION, 2,
                                                                              None, []))
    service.warming = None


def test_page_state_follows_the_collection_and_a_warm_up(service):
    warming, timer, summary, collection, chosen, doomed = handlers.page_state(service, [PARTY, "gone.txt"])
    assert warming.visible is False and timer.active is False
    assert "资料库：2 篇文档" in summary and DEVELOPMENT in collection
    assert chosen.value == [PARTY] and {path for _, path in doomed.choices} == {PARTY, DEVELOPMENT}
    service.warming = WarmUp()  # a background warm-up that has not finished
    warming, timer, summary, *_ = handlers.page_state(service, None)
    assert warming.visible and timer.active and "正在建立索引" in summary
    service.warming = None


def test_the_update_time_is_a_time_element_for_the_browser_to_show_locally(service):
    info = service.info()
    collection = render_collection(info)
    assert f"更新时间：<b><time datetime='{datetime.fromisoformat(info.built).isoformat()}'>" in collection
    assert "更新时间：<b>昨天</b>" in render_collection(replace(info, built="昨天"))  # not a timestamp: as it is
    assert "<time" not in render_collection(replace(info, built="2024-05-01T08:00:00"))  # no zone: no local time


def test_removal_asks_first_and_needs_a_document(service):
    status, box, warning = handlers.propose_removal(PARTY)
    assert status == "" and box.visible and f"确定要移除 {PARTY} 吗" in warning and "qa-notice" in warning
    status, box, warning = handlers.propose_removal(None)
    assert "请先选择要移除的文档" in status and box.visible is False and warning == ""
    assert handlers.hide_confirmation().visible is False
    (only,) = list(handlers.remove(service, "", None))
    assert "请先选择要移除的文档" in only[0] and len(only) == 8


def test_upload_shows_progress_then_the_new_collection(service, tmp_path):
    (tmp_path / "library.txt").write_text(LIBRARY, encoding="utf-8")
    queue = []
    assert "library.txt</span><span class='qa-upload-state'>等待" in handlers.enqueue(queue, [str(tmp_path / "library.txt")])
    steps = list(handlers.upload(service, queue, None))
    assert all(len(step) == 8 for step in steps) and "qa-progress" in steps[0][0] and "读取中" in steps[0][0]
    last = steps[-1]
    assert "已加入资料库：library.txt" in last[0] and "资料库：3 篇文档" in last[3] and last[7].visible is False
    assert "qa-upload-done" in last[0] and ">完成<" in last[0]
    # nothing waits (an earlier call indexed it): it changes nothing; yielding nothing would clear every output
    assert list(handlers.upload(service, queue, None)) == [(gr.skip(),) * 8]


def test_files_chosen_during_an_upload_wait_and_are_indexed_in_turn(service, tmp_path):
    names = ["library.txt", "museum.txt", "menu.txt"]
    (tmp_path / names[0]).write_text(LIBRARY, encoding="utf-8")
    (tmp_path / names[1]).write_text(LIBRARY.replace("图书馆", "博物馆"), encoding="utf-8")
    (tmp_path / names[2]).write_text("首页 | 新闻 | 联系我们\n", encoding="utf-8")
    queue = []
    handlers.enqueue(queue, [str(tmp_path / names[0])])
    steps = handlers.upload(service, queue, None)
    first = next(steps)[0]
    assert re.search("library.txt</span><span class='qa-upload-state'>读取中", first)
    shown = handlers.enqueue(queue, [str(tmp_path / name) for name in names[1:]])  # chosen while it is indexed
    assert "library.txt" in shown and shown.count(">等待<") == 2 and "qa-progress" in shown
    *_, last = steps
    status = last[0]
    rows = re.findall(r"<li class='qa-upload qa-upload-(\w+)'><span class='qa-upload-name'>([^<]+)", status)
    assert rows == [("done", names[0]), ("done", names[1]), ("skipped", names[2])]
    assert "已跳过：menu.txt 中没有可检索的正文。" in status and "已加入资料库：library.txt、museum.txt" in status
    assert "资料库：4 篇文档" in last[3]
    handlers.enqueue(queue, [])  # a new choice after all of them are done starts a new list
    assert queue == []


def test_the_upload_bar_never_moves_back_when_files_are_chosen_meanwhile(service, tmp_path):
    (tmp_path / "library.txt").write_text(LIBRARY, encoding="utf-8")
    queue, shares, descriptions = [], [], []
    handlers.enqueue(queue, [str(tmp_path / "library.txt")])

    def progress(share, desc=""):
        shares.append(share)
        descriptions.append(desc)
        if len(shares) == 1:  # two more files chosen while the first is read
            handlers.enqueue(queue, [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])

    handlers.index_queued(service, queue, queue[0], progress)
    assert len(shares) > 2 and shares == sorted(shares) and shares[-1] == 1.0
    assert descriptions[0].startswith("（1/1）") and descriptions[-1].startswith("（1/3）library.txt：")


def test_a_file_whose_build_waits_for_another_says_so(service, tmp_path):
    (tmp_path / "library.txt").write_text(LIBRARY, encoding="utf-8")
    queue, states = [], []
    handlers.enqueue(queue, [str(tmp_path / "library.txt")])
    waiting = threading.Event()

    def progress(share, desc=""):
        states.append(queue[0].state)
        if "等待其他更新完成" in desc:
            waiting.set()

    with service._lock:  # another page's upload is being indexed
        worker = threading.Thread(target=handlers.index_queued, args=(service, queue, queue[0], progress))
        worker.start()
        assert waiting.wait(30)
        assert "library.txt</span><span class='qa-upload-state'>等待其他更新完成" in handlers.queue_html(queue)
    worker.join(60)
    assert states[0] == "held" and states[-1] == "reading" and queue[0].state == "done"


def test_an_unexpected_failure_skips_that_file_and_the_queue_goes_on(service, tmp_path, monkeypatch):
    (tmp_path / "library.txt").write_text(LIBRARY, encoding="utf-8")
    (tmp_path / "broken.txt").write_text(LIBRARY, encoding="utf-8")
    add = service.add_document
    monkeypatch.setattr(service, "add_document", lambda name, data, progress=None: add(name, data, progress)
                        if name != "broken.txt" else 1 / 0)
    queue = []
    handlers.enqueue(queue, [str(tmp_path / "broken.txt"), str(tmp_path / "library.txt")])
    *_, last = handlers.upload(service, queue, None)
    assert [file.state for file in queue] == ["skipped", "done"]
    assert "broken.txt 添加时出错" in last[0] and "已加入资料库：library.txt" in last[0]


def test_bound_handlers_keep_their_names_for_gradio(service):
    bound = bind(handlers.neighbour_texts, service)
    assert bound.__name__ == "neighbour_texts" and bound(["missing.txt", 1]) == []
    assert "server.neighbour_texts(" in RESULTS_JS and "server.document_html(" in RESULTS_JS


def test_the_layout_returns_its_components(service):
    with gr.Blocks():
        page = layout(service, ["示例问题"], [])
    assert isinstance(page.question, gr.Textbox) and isinstance(page.results, gr.HTML)
    assert page.changed_parts() == [page.status, *page.collection_parts(), page.confirm_box]
    assert len(page.collection_parts()) == len(handlers.page_state(service, None))


def test_the_page_events_are_wired(service):
    demo = build_demo(service)
    assert sum(fn.api_name == "ask" for fn in demo.fns.values()) == 1
    assert any(getattr(fn.fn, "__name__", "") == "ask_if_any" for fn in demo.fns.values())


def test_css_and_js_are_package_files_without_template_marks():
    files = resources.files("qa.surfaces.page")
    assert files.joinpath("page.css").read_text(encoding="utf-8") == CSS and ".qa-hit" in CSS
    assert files.joinpath("page.js").read_text(encoding="utf-8") == RESULTS_JS and "toggleContext" in RESULTS_JS
    assert files.joinpath("times.js").read_text(encoding="utf-8") == TIMES_JS and "localTimes" in TIMES_JS
    # Gradio reads the CSS as a JavaScript template string: a backquote or a dollar-brace would cut it short
    assert "`" not in CSS and "${" not in CSS


def test_the_wheel_ships_the_css_and_js(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT / "qa", source / "qa", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "wheel"), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"qa/surfaces/page/page.css", "qa/surfaces/page/page.js", "qa/surfaces/page/times.js"} <= names
