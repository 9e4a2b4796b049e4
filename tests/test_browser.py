"""The page in a real browser (Debian's chromium driven by Playwright), as people and host pages use it.

Skipped when /usr/bin/chromium is missing, unless QA_REQUIRE_BROWSER=1 (as in CI), which makes that a failure.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from qa import Service
from qa.embed.base import Embedder
from qa.index.sync import CACHE_FILE
from qa.surfaces.web import create_app
from qa.core.settings import DEFAULT_MAX_UPLOAD_MB
from tests.conftest import DATA, DEVELOPMENT, PARTY, ROOT
from tests.live import free_port, load_example, serving_app, serving_blocks, serving_folder
from tests.make_docs import Article, docx_file, pdf_file

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"  # npm ci --prefix tests/axe (.ci/run)
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 120_000  # answers take well under a second; this only bounds a test on a machine busy with other work

# A document whose title, source and paragraphs carry HTML and template syntax: all of it must show as text.
HOSTILE_DOC = """# 横沥龙舟赛<img src=x onerror="window.__pwned = 5">报道
来源：<i>测试</i> 发布时间：2024-06-10
横沥镇每年端午节都在寒溪河举行龙舟赛，吸引数万名观众前来观看，场面十分热闹。<script>window.__pwned = 1; document.title = "pwned";</script>
龙舟赛由镇文体中心主办，各村的龙舟队都会报名参加比赛，赛程持续三天。<img src=x onerror="window.__pwned = 2">
比赛结束后，镇里会在文化广场举行颁奖典礼，为获胜的龙舟队颁发奖杯。${window.__pwned = 3}{{constructor.constructor('window.__pwned = 4')()}}
"""
LIBRARY_DOC = """横沥镇图书馆建设
来源：横沥镇文化站 发布时间：2024-03-01
今年横沥镇新建了三座社区图书馆，藏书共计十二万册，每天开放到晚上九点。
图书馆还开设了少儿阅览室和电子阅览室，方便群众就近读书学习。
"""


# Two documents in the other formats the index reads, for uploads from the page: a two-page PDF and a DOCX.
BUS = Article("横沥镇公交线路调整公告", "横沥镇交通办", "交通办", "2024-05-01", [
    ("线路调整", ["自六月一日起，横沥镇公交三路改为每十五分钟一班，首班车早上六点从汽车站发出，末班车晚上十点。",
              "公交五路延长到村头工业区，方便在工业区上班的职工乘车，沿途新增四个停靠站点。"]),
    ("新增站点", ["新增的停靠站点分别是村头市场站、工业大道站、文化广场东站和横沥中学北门站，均设有候车亭。",
              "市民如对线路调整有意见或建议，可以拨打横沥镇交通办的服务热线反映，交通办会及时回复。"]),
])
WASTE = Article("横沥镇垃圾分类指引", "横沥镇城管办", "城管办", "2024-04-01", [
    ("分类方法", ["横沥镇的生活垃圾分为可回收物、有害垃圾、厨余垃圾和其他垃圾四类，居民应当分类投放到对应的桶里。",
              "废旧电池、过期药品和废灯管属于有害垃圾，要投放到红色的有害垃圾收集容器，不能混入其他垃圾。"]),
])
# A document (and, with 游泳馆 for 公园, a second) that only the upload queue's test adds.
PARK_DOC = """横沥镇新公园开放
来源：横沥镇城建办 发布时间：2024-08-01
横沥镇新建的滨河公园于八月一日正式开放，公园占地约八十亩，设有步道、儿童乐园和健身场地，全天免费开放。
"""
# A document no other test adds: the build at start embeds it (the rest comes from the embedding cache).
NEW_DOC = """横沥镇夜市开市通知
来源：横沥镇商会 发布时间：2024-07-01
横沥镇夜市于七月五日在牛墟广场开市，每周五到周日晚上六点到十一点营业，设有小吃、服装和手工艺品摊位。
"""
# A document only the removal test's own service holds.
REMOVABLE_DOC = """横沥镇荔枝节活动安排
来源：横沥镇农业办 发布时间：2024-06-20
今年的横沥镇荔枝节定在六月二十八日开幕，地点在田坑村荔枝园，游客可以现场采摘糯米糍和桂味荔枝。
荔枝节期间每天上午九点到下午五点开放采摘，每人门票二十元，凭票可以免费品尝三斤荔枝。
"""


class GatedEmbedder(Embedder):
    """The real model, with passage embedding held while `gate` is clear, so a test can act during a build."""

    def __init__(self, inner: Embedder):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.gate, self.building = threading.Event(), threading.Event()
        self.gate.set()

    def embed(self, texts, kind):
        if kind == "passage":
            self.building.set()
            assert self.gate.wait(WAIT_MS / 1000), "the test never released the build"
        return self.inner.embed(texts, kind)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium; a missing browser skips, or fails when QA_REQUIRE_BROWSER=1."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) for the browser tests"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "playwright is missing: pip install -e '.[test]'"
    if missing:
        if os.environ.get("QA_REQUIRE_BROWSER") == "1":
            pytest.fail(missing + " (QA_REQUIRE_BROWSER=1)")
        pytest.skip(missing)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def embedder(real_embedder) -> GatedEmbedder:
    return GatedEmbedder(real_embedder)


@pytest.fixture(scope="module")
def page_service(embedder, tmp_path_factory) -> Service:
    """Its own copy of data/ (uploads change it) plus the hostile document, indexed with the real model."""
    base = tmp_path_factory.mktemp("browser")
    shutil.copytree(DATA, base / "data")
    (base / "data" / "hostile.md").write_text(HOSTILE_DOC, encoding="utf-8")
    service = Service(base / "data", base / "index", embedder=embedder)
    service.build()
    return service


@pytest.fixture(scope="module")
def app_url(browser, page_service):
    with serving_app(create_app(page_service)) as url:
        yield url + "/"


@pytest.fixture
def new_page(browser):
    """Opens pages in fresh contexts with a Chinese locale (Gradio's own labels follow it); closes them after."""
    contexts = []

    def open_page(viewport: dict = DESKTOP, color_scheme: str = "light"):
        context = browser.new_context(locale="zh-CN", viewport=viewport, color_scheme=color_scheme)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def ask(where, question: str, nth: int = 0) -> None:
    """Type a question into the nth question box of a page or frame and press Enter."""
    box = where.get_by_label("问题", exact=True).nth(nth)
    box.fill(question)
    box.press("Enter")


def shot(page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def test_question_answered_first_with_its_answer_highlighted(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url)
    expect(page.locator(".qa-results .qa-empty")).to_contain_text("输入问题")
    ask(page, "全镇共有多少名党员？")
    first = page.locator(".qa-hit").first
    expect(first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    expect(first.locator(".qa-title")).to_contain_text("根基扎牢 枝繁叶茂")
    expect(first.locator(".qa-meta")).to_contain_text("来源：网络 · 2016-12-19")
    expect(first.locator(".qa-rel")).to_have_text("相关度：高")
    shot(page, "answer-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "answer-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"
    expect(first.locator("mark")).to_contain_text("1724")
    expect(first.locator("mark b.qa-exact")).to_have_text("1724名")
    # results begin near the question on a phone: the settings are folded away under 更多设置
    assert first.bounding_box()["y"] < 520
    expect(page.get_by_label("返回段落数")).to_be_hidden()
    assert "processing" not in page.locator("body").inner_text()


def test_neighbouring_passages_on_demand(new_page, app_url, page_service):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url)
    ask(page, "横沥镇有多少名党员？")
    first = page.locator(".qa-hit").first
    expect(first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    expect(first.locator(".qa-ctx")).to_have_count(0)
    top = page_service.ask("横沥镇有多少名党员？", top_k=1)[0]
    around = page_service.neighbours(top.document, top.position)
    about = f"根基扎牢 枝繁叶茂 第{top.position + 1}段"  # each hit's buttons name it
    more = first.locator(".qa-more")
    expect(more).to_have_accessible_name(f"查看上下文：{about}")
    expect(first.locator(".qa-copy")).to_have_accessible_name(f"复制：{about}")
    more.click()
    expect(first.locator(".qa-ctx")).to_have_text([p.text for p in around], timeout=WAIT_MS)
    expect(first.locator(".qa-ctx").first).to_be_visible()
    expect(more).to_have_accessible_name(f"收起上下文：{about}")
    shot(page, "context-open")
    first.get_by_role("button", name="收起上下文").click()
    expect(first.locator(".qa-ctx").first).to_be_hidden()
    expect(more).to_have_accessible_name(f"查看上下文：{about}")


def test_upload_is_indexed_while_others_keep_asking(new_page, app_url, embedder, tmp_path):
    from playwright.sync_api import expect

    upload = tmp_path / "library.txt"
    upload.write_text(LIBRARY_DOC, encoding="utf-8")
    uploader, other = new_page(), new_page(PHONE)
    uploader.goto(app_url)
    other.goto(app_url)
    uploader.get_by_role("tab", name="资料库").click()
    expect(uploader.locator(".qa-docs")).to_contain_text("根基扎牢 枝繁叶茂", timeout=WAIT_MS)

    embedder.gate.clear()
    embedder.building.clear()
    try:
        uploader.locator("input[type=file]").set_input_files(str(upload))
        assert embedder.building.wait(WAIT_MS / 1000), "the upload did not start a build"
        progress = uploader.locator(".qa-progress")
        expect(progress).to_contain_text(re.compile(r"（1/1）library\.txt：(读取|切分|向量化|写入) \d+%"), timeout=WAIT_MS)
        expect(progress).to_have_count(1)
        shot(uploader, "upload-progress")
        ask(other, "横沥镇有多少名党员？")
        expect(other.locator(".qa-hit").first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
        expect(uploader.locator(".qa-status")).to_have_count(0)  # the build was still running
    finally:
        embedder.gate.set()

    expect(uploader.locator(".qa-status")).to_contain_text("已加入资料库：library.txt", timeout=WAIT_MS)
    expect(uploader.locator(".qa-docs")).to_contain_text("横沥镇图书馆建设")
    shot(uploader, "upload-done")
    uploader.get_by_role("tab", name="提问").click()
    ask(uploader, "横沥镇新建了几座图书馆？")
    first = uploader.locator(".qa-hit").first
    expect(first).to_contain_text("三座社区图书馆", timeout=WAIT_MS)
    expect(first.locator(".qa-meta")).to_contain_text("library.txt")


def test_files_chosen_while_others_are_indexed_wait_their_turn(new_page, app_url, embedder, tmp_path):
    from playwright.sync_api import expect

    park, pool = tmp_path / "park.txt", tmp_path / "pool.txt"
    park.write_text(PARK_DOC, encoding="utf-8")
    pool.write_text(PARK_DOC.replace("公园", "游泳馆"), encoding="utf-8")
    page = new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="资料库").click()
    expect(page.locator(".qa-docs")).to_be_visible(timeout=WAIT_MS)
    rows = page.locator(".qa-upload")
    embedder.gate.clear()
    embedder.building.clear()
    try:
        page.locator("input[type=file]").set_input_files(str(park))
        assert embedder.building.wait(WAIT_MS / 1000), "the upload did not start a build"
        expect(rows).to_have_text(["park.txt读取中"], timeout=WAIT_MS)
        page.locator("input[type=file]").set_input_files(str(pool))  # chosen while park.txt is indexed
        expect(rows).to_have_text(["park.txt读取中", "pool.txt等待"], timeout=WAIT_MS)
        expect(page.locator(".qa-progress")).to_contain_text("park.txt：")  # kept above the list
        shot(page, "upload-queue")
    finally:
        embedder.gate.set()
    expect(rows).to_have_text(["park.txt完成", "pool.txt完成"], timeout=WAIT_MS)
    expect(page.locator(".qa-status")).to_contain_text("已加入资料库：park.txt、pool.txt", timeout=WAIT_MS)
    expect(page.locator(".qa-docs")).to_contain_text("pool.txt")
    expect(page.locator(".qa-docs")).to_contain_text("park.txt")


def test_a_bad_upload_is_refused_with_a_reason(new_page, app_url, tmp_path):
    from playwright.sync_api import expect

    menu, empty = tmp_path / "menu.txt", tmp_path / "empty.txt"
    menu.write_text("首页 | 新闻 | 联系我们\n", encoding="utf-8")
    empty.write_bytes(b"")
    page = new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="资料库").click()
    page.locator("input[type=file]").set_input_files([str(menu), str(empty)])
    skipped = page.locator(".qa-upload-skipped .qa-upload-state")
    expect(skipped).to_have_text(["已跳过：menu.txt 中没有可检索的正文。", "已跳过：empty.txt 是空文件，没有可以添加的内容。"],
                                 timeout=WAIT_MS)  # in Chinese only, as the page is
    expect(page.locator(".qa-docs")).not_to_contain_text("menu.txt")


def test_html_in_documents_shows_as_text_and_never_runs(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url)
    ask(page, "横沥镇的龙舟赛在哪里举行？")
    first = page.locator(".qa-hit").first
    expect(first).to_contain_text('<script>window.__pwned = 1; document.title = "pwned";</script>', timeout=WAIT_MS)
    expect(first.locator(".qa-title")).to_contain_text('<img src=x onerror="window.__pwned = 5">')
    expect(first.locator(".qa-meta")).to_contain_text("<i>测试</i>")
    first.get_by_role("button", name="查看上下文").click()
    expect(first.locator(".qa-ctx").first).to_contain_text('<img src=x onerror="window.__pwned = 2">',
                                                            timeout=WAIT_MS)
    ask(page, "比赛结束后在哪里颁奖？")
    expect(page.locator(".qa-hit").first).to_contain_text("${window.__pwned = 3}{{constructor", timeout=WAIT_MS)
    page.get_by_role("tab", name="资料库").click()
    expect(page.locator(".qa-docs")).to_contain_text('横沥龙舟赛<img src=x onerror="window.__pwned = 5">报道',
                                                     timeout=WAIT_MS)
    shot(page, "hostile-document")
    assert page.evaluate("window.__pwned") is None
    assert page.title() == "文档问答"
    assert page.locator(".qa-hit script, .qa-hit img, .qa-docs img, .qa-meta i").count() == 0


def test_the_embedding_example_page_shows_the_app(new_page, app_url):
    from playwright.sync_api import expect

    with serving_folder(ROOT / "examples") as site:
        page = new_page()
        page.goto(f"{site}/embed.html?src={app_url}")
        expect(page.get_by_role("heading", name="我的网站")).to_be_visible()
        frame = page.frame_locator("iframe#qa")
        ask(frame, "横沥镇有多少名党员？")
        expect(frame.locator(".qa-hit").first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
        shot(page, "embedded-html")


def test_the_page_rendered_twice_in_a_host_app_works_independently(new_page, page_service):
    from playwright.sync_api import expect

    with serving_blocks(load_example("render_in_host").make_host(page_service)) as url:
        page = new_page()
        page.goto(url)
        expect(page.get_by_label("问题", exact=True)).to_have_count(2, timeout=WAIT_MS)
        ask(page, "横沥镇有多少名党员？", nth=1)
        results = page.locator(".block.qa-results")  # Gradio puts elem_classes on the block and its content
        expect(results.nth(1).locator(".qa-hit").first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
        expect(results.nth(0).locator(".qa-empty")).to_be_visible()
        results.nth(1).locator(".qa-more").first.click()
        expect(results.nth(1).locator(".qa-ctx").first).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("tab", name="资料库").nth(0).click()
        expect(page.locator(".qa-docs").first).to_contain_text("根基扎牢 枝繁叶茂", timeout=WAIT_MS)
        shot(page, "rendered-twice")


def test_relevance_is_a_fixed_scale_and_a_non_answer_marks_nothing(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page(PHONE)
    page.goto(app_url)
    ask(page, "明天天气怎么样？")
    expect(page.locator(".qa-notice")).to_contain_text("可能没有这个问题的答案", timeout=WAIT_MS)
    weak = page.locator("details.qa-weak")
    expect(weak.locator("summary")).to_contain_text("更多：5 个相关度低的段落")
    expect(weak.locator(".qa-hit").first).to_be_hidden()  # folded until asked for
    shot(page, "non-answer-phone")
    weak.locator("summary").click()
    expect(weak.locator(".qa-hit")).to_have_count(5)
    expect(weak.locator(".qa-rel")).to_have_text(["相关度：低"] * 5)
    expect(page.locator(".qa-hit mark")).to_have_count(0)
    assert "%" not in page.locator(".qa-results .qa-head").first.inner_text()

    ask(page, "横沥镇有多少名党员？")
    first = page.locator(".qa-hit").first
    expect(first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    expect(page.locator(".qa-notice")).to_have_count(0)
    expect(first.locator(".qa-rel")).to_have_text("相关度：高")
    expect(first.locator("mark")).to_have_count(1)


def axe_problems(page) -> list[str]:
    """Serious and critical axe-core violations on the page as it is, one line each."""
    if not AXE.exists():
        message = f"{AXE} is missing: npm ci --prefix tests/axe"
        if os.environ.get("QA_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{v['id']} ({v['impact']}): {v['help']}: " + "; ".join(
        " ".join(n["target"]) + " " + (n.get("failureSummary") or "")[:160] for n in v["nodes"][:5])
        for v in found if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_no_serious_accessibility_problems(new_page, app_url, theme, viewport):
    """axe-core on each state of the page, in the browser's light and dark themes (Gradio follows the browser's
    prefers-color-scheme), on a desktop and on a phone."""
    from playwright.sync_api import expect

    page = new_page(viewport, color_scheme=theme)
    name = f"{theme}-{'phone' if viewport == PHONE else 'desktop'}"
    page.goto(app_url)
    expect(page.locator(".qa-collection")).to_contain_text("资料库：", timeout=WAIT_MS)
    assert page.evaluate("document.body.classList.contains('dark')") == (theme == "dark")
    ask(page, "全镇共有多少名党员？")  # an answer: its highlight and the exact phrase in bold inside it
    expect(page.locator(".qa-hit mark b.qa-exact").first).to_be_visible(timeout=WAIT_MS)
    shot(page, f"accessibility-answer-{name}")
    problems = axe_problems(page)
    ask(page, "明天天气怎么样？")  # the notice, the folded hits, every kind of label
    expect(page.locator(".qa-notice")).to_be_visible(timeout=WAIT_MS)
    page.locator(".qa-weak summary").click()
    page.locator(".qa-collection summary").click()
    page.locator(".qa-hit .qa-more").first.click()
    expect(page.locator(".qa-ctx").first).to_be_visible(timeout=WAIT_MS)
    shot(page, f"accessibility-{name}")
    problems += axe_problems(page)
    page.get_by_role("tab", name="资料库").click()
    expect(page.locator(".qa-docs")).to_be_visible(timeout=WAIT_MS)
    page.get_by_label("移除文档").click()
    page.get_by_role("option", name="根基扎牢 枝繁叶茂").click()
    page.get_by_role("button", name="移除…").click()
    expect(page.get_by_role("button", name="确认移除")).to_be_visible()
    shot(page, f"accessibility-collection-{name}")
    problems += axe_problems(page)
    page.get_by_role("button", name="取消").click()
    assert not problems, "\n".join(problems)
    if theme == "dark":  # the notice follows the theme instead of staying cream
        page.get_by_role("tab", name="提问").click()
        background = page.locator(".qa-notice").evaluate("e => getComputedStyle(e).backgroundColor")
        assert sum(int(c) for c in background[4:-1].split(",")[:3]) < 3 * 128, background


def test_uploads_in_every_format_show_one_chinese_progress_on_a_phone(new_page, app_url, embedder, tmp_path):
    from playwright.sync_api import expect

    pdf, docx = tmp_path / "bus.pdf", tmp_path / "waste.docx"
    pdf.write_bytes(pdf_file(BUS, running_header=False))
    docx.write_bytes(docx_file(WASTE))
    page = new_page(PHONE)
    page.goto(app_url)
    page.get_by_role("tab", name="资料库").click()
    expect(page.locator(".qa-docs")).to_be_visible(timeout=WAIT_MS)
    embedder.gate.clear()
    embedder.building.clear()
    try:
        page.locator("input[type=file]").set_input_files([str(pdf), str(docx)])
        assert embedder.building.wait(WAIT_MS / 1000), "the upload did not start a build"
        progress = page.locator(".qa-progress")
        expect(progress).to_contain_text(re.compile(r"（1/2）bus\.pdf：(读取|切分|向量化|写入) \d+%"), timeout=WAIT_MS)
        expect(progress).to_have_attribute("role", "progressbar")
        text, bar = progress.locator(".qa-progress-text").bounding_box(), progress.locator(".qa-track").bounding_box()
        assert text["y"] + text["height"] <= bar["y"] and text["x"] + text["width"] <= PHONE["width"]
        body = page.locator("body").inner_text()
        assert "Embedding" not in body and "BM25" not in body and "processing" not in body
        shot(page, "upload-progress-phone")
    finally:
        embedder.gate.set()
    expect(page.locator(".qa-status")).to_contain_text("已加入资料库：bus.pdf、waste.docx", timeout=WAIT_MS)
    expect(page.locator(".qa-progress")).to_have_count(0)
    expect(page.locator(".qa-docs")).to_contain_text("横沥镇公交线路调整公告")
    expect(page.locator(".qa-docs")).to_contain_text("waste.docx")


def test_the_update_time_is_shown_in_the_readers_time_zone(browser, app_url, page_service):
    from playwright.sync_api import expect

    built = datetime.fromisoformat(page_service.info().built)
    beijing = built.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")  # no summer time there
    context = browser.new_context(locale="zh-CN", viewport=DESKTOP, timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        page.goto(app_url)
        page.get_by_role("tab", name="资料库").click()
        expect(page.locator(".qa-stats")).to_contain_text(f"更新时间：{beijing}", timeout=WAIT_MS)
        assert "UTC" not in page.locator(".qa-stats").inner_text()
    finally:
        context.close()


def test_a_wrong_file_type_is_refused_in_chinese(new_page, app_url, tmp_path):
    from playwright.sync_api import expect

    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    page = new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="资料库").click()
    page.locator("input[type=file]").set_input_files(str(picture))
    skipped = page.locator(".qa-upload-skipped")
    expect(skipped).to_contain_text("只支持以下文件类型", timeout=WAIT_MS)
    expect(skipped).to_contain_text("photo.png")
    expect(page.locator(".toast-body")).to_have_count(0)  # no English notice from the widget
    footer = page.locator("footer").inner_text()
    assert "设置" not in footer and "Runs" not in footer and "Settings" not in footer


def test_gradios_own_notice_of_a_file_too_large_is_in_chinese(new_page, app_url, tmp_path):
    from playwright.sync_api import expect

    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * ((DEFAULT_MAX_UPLOAD_MB << 20) + 1))  # refused by Gradio's page before any upload
    page = new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="资料库").click()
    page.locator("input[type=file]").set_input_files(str(big))
    notice = page.locator("[data-testid='toast-text']")
    expect(notice).to_contain_text("文件超过大小上限", timeout=WAIT_MS)
    expect(notice).to_contain_text("big.txt")
    assert "exceed" not in notice.inner_text()
    assert page.locator("footer").get_attribute("aria-label") == "页脚导航"


def test_a_hit_opens_its_document_at_the_passage(new_page, app_url, page_service):
    from playwright.sync_api import expect

    page = new_page(PHONE)
    page.goto(app_url)
    ask(page, "横沥镇有多少名党员？")
    first = page.locator(".qa-hit").first
    expect(first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    opener = first.locator(".qa-open-doc")
    expect(opener).to_have_text(PARTY)
    opener.click()
    viewer = page.locator("dialog.qa-doc")
    expect(viewer).to_be_visible()
    here = viewer.locator(".qa-here")
    expect(here).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    expect(viewer.locator(".qa-para")).to_have_count(len(page_service.document(PARTY)))
    expect(viewer.locator(".qa-doc-title")).to_have_text("根基扎牢 枝繁叶茂")
    expect(here).to_be_in_viewport()
    expect(here).to_be_focused()
    shot(page, "document-viewer-phone", full_page=False)
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(opener).to_be_focused()


def test_a_pdf_hit_opens_at_its_page(new_page, app_url, page_service, tmp_path):
    from playwright.sync_api import expect

    if "bus.pdf" not in {d.document for d in page_service.documents()}:  # run alone: add it here
        (page_service.data_dir / "bus.pdf").write_bytes(pdf_file(BUS, running_header=False))
        page_service.build()
    page = new_page()
    page.goto(app_url)
    ask(page, "哪些站点设有候车亭？")
    first = page.locator(".qa-hit").first
    expect(first).to_contain_text("村头市场站", timeout=WAIT_MS)
    expect(first.locator(".qa-open-doc")).to_have_text("bus.pdf 第2页")
    first.locator(".qa-open-doc").click()
    viewer = page.locator("dialog.qa-doc")
    expect(viewer.locator(".qa-page")).to_have_text(["第 1 页", "第 2 页"], timeout=WAIT_MS)
    expect(viewer.locator(".qa-here")).to_contain_text("村头市场站")
    expect(viewer.locator(".qa-here")).to_be_in_viewport()
    shot(page, "document-viewer-pdf", full_page=False)
    viewer.get_by_role("button", name="关闭").click()
    expect(viewer).to_be_hidden()


def test_the_document_filter_searches_only_the_chosen_documents(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url)
    expect(page.locator(".qa-collection")).to_contain_text("资料库：", timeout=WAIT_MS)
    page.get_by_text("更多设置").click()
    picker = page.get_by_label("只在这些文档中查找（不选则查全部）")
    picker.click()
    page.get_by_role("option", name="踔厉奋发新时代 勇毅前行向未来").click()
    page.keyboard.press("Escape")
    ask(page, "横沥镇有多少名党员？")
    expect(page.locator(".qa-note")).to_contain_text("只在选定的 1 篇文档中查找", timeout=WAIT_MS)
    expect(page.locator(".qa-hit").first).to_be_attached()
    shot(page, "document-filter")
    assert set(page.locator(".qa-open-doc").all_inner_texts()) == {DEVELOPMENT}


def test_a_removed_document_is_never_found_again(new_page, browser, page_service, real_embedder, tmp_path):
    from playwright.sync_api import expect

    shutil.copytree(page_service.data_dir, tmp_path / "data")
    (tmp_path / "data" / "lychee.txt").write_text(REMOVABLE_DOC, encoding="utf-8")
    (tmp_path / "index").mkdir()
    shutil.copy(page_service.index_dir / CACHE_FILE, tmp_path / "index" / CACHE_FILE)  # only lychee.txt embeds
    service = Service(tmp_path / "data", tmp_path / "index", embedder=real_embedder)
    service.build()
    with serving_app(create_app(service)) as url:
        page = new_page()
        page.goto(url + "/")
        ask(page, "荔枝节在哪里举行？")
        expect(page.locator(".qa-hit").first).to_contain_text("田坑村荔枝园", timeout=WAIT_MS)
        page.get_by_role("tab", name="资料库").click()
        picker = page.get_by_label("移除文档")
        picker.click()
        page.get_by_role("option", name="横沥镇荔枝节活动安排").click()
        page.get_by_role("button", name="移除…").click()
        expect(page.locator(".qa-notice")).to_contain_text("确定要移除 lychee.txt 吗？")
        shot(page, "remove-confirm")
        page.get_by_role("button", name="取消").click()
        expect(page.get_by_role("button", name="确认移除")).to_be_hidden()
        propose = page.get_by_role("button", name="移除…")
        expect(propose).to_be_focused()  # back where the confirmation began, not on <body>
        assert (tmp_path / "data" / "lychee.txt").exists()
        propose.click()
        page.get_by_role("button", name="确认移除").press("Enter")
        expect(page.locator(".qa-status")).to_contain_text("已从资料库移除：lychee.txt", timeout=WAIT_MS)
        expect(page.get_by_role("button", name="确认移除")).to_be_hidden()
        expect(propose).to_be_focused()
        expect(page.locator(".qa-docs")).not_to_contain_text("lychee.txt")
        assert not (tmp_path / "data" / "lychee.txt").exists()
        assert list((tmp_path / "index" / "removed").glob("*/lychee.txt"))
        page.get_by_role("tab", name="提问").click()
        expect(page.locator(".qa-collection")).not_to_contain_text("荔枝节")
        for question in ("荔枝节在哪里举行？", "荔枝节门票多少钱？"):
            page.goto(url + "/")
            expect(page.locator(".qa-collection")).to_contain_text("资料库：", timeout=WAIT_MS)
            ask(page, question)
            expect(page.locator(".qa-sr")).to_have_attribute("data-question", question, timeout=WAIT_MS)
            expect(page.locator(".qa-hit")).not_to_have_count(0)
            assert not [t for t in page.locator(".qa-hit").all_inner_texts() if "荔枝" in t or "lychee" in t]
    service.close()


def test_the_question_is_in_the_url_and_recent_questions_are_kept(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url + "?q=" + "横沥镇有多少名党员？")
    expect(page.locator(".qa-hit").first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    expect(page.get_by_label("问题", exact=True)).to_have_value("横沥镇有多少名党员？")
    ask(page, "横沥镇如何推进乡村振兴？")
    expect(page.locator(".qa-sr")).to_have_attribute("data-question", "横沥镇如何推进乡村振兴？", timeout=WAIT_MS)
    assert "q=%E6%A8%AA%E6%B2%A5%E9%95%87%E5%A6%82%E4%BD%95" in page.url
    page.reload()
    expect(page.get_by_label("问题", exact=True)).to_have_value("横沥镇如何推进乡村振兴？", timeout=WAIT_MS)
    expect(page.locator(".qa-sr")).to_have_attribute("data-question", "横沥镇如何推进乡村振兴？", timeout=WAIT_MS)
    recent = page.locator(".block", has_text="最近的问题").last
    expect(recent).to_contain_text("横沥镇如何推进乡村振兴？", timeout=WAIT_MS)
    expect(recent).to_contain_text("横沥镇有多少名党员？")
    shot(page, "recent-questions")
    recent.get_by_text("横沥镇有多少名党员？").click()
    expect(page.locator(".qa-sr")).to_have_attribute("data-question", "横沥镇有多少名党员？", timeout=WAIT_MS)


def test_copy_puts_the_passage_and_its_citation_on_the_clipboard(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(app_url)
        ask(page, "横沥镇有多少名党员？")
        first = page.locator(".qa-hit").first
        expect(first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
        first.get_by_role("button", name="复制").click()
        expect(first.get_by_role("button", name="已复制")).to_be_visible()
        copied = page.evaluate("navigator.clipboard.readText()")
        passage = first.locator(".qa-text").inner_text()
        assert copied == f"{passage}\n——《根基扎牢 枝繁叶茂》，来源：网络，2016-12-19，文件：{PARTY}"
    finally:
        context.close()


def test_more_settings_says_whether_it_is_open(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url)
    expect(page.locator(".qa-collection")).to_contain_text("资料库：", timeout=WAIT_MS)
    toggle = page.get_by_role("button", name=re.compile("^更多设置"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("slider")).to_be_visible()
    # Chinese names for the slider's parts, which Gradio names in English ("number input for 返回段落数")
    expect(page.get_by_role("spinbutton", name="返回段落数", exact=True)).to_be_visible()
    expect(page.get_by_role("slider", name="返回段落数（滑块）", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="恢复默认值")).to_be_attached()
    settings = page.locator(".qa-settings")
    assert "for 返回段落数" not in settings.inner_html() and "Reset to default" not in settings.inner_html()
    toggle.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("slider")).to_be_hidden()


def test_keyboard_slash_enter_and_a_live_region(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url)
    expect(page.locator(".qa-collection")).to_contain_text("资料库：", timeout=WAIT_MS)
    box = page.get_by_label("问题", exact=True)
    page.locator("h1").click()
    expect(box).not_to_be_focused()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the key only moved the focus
    page.keyboard.type("横沥镇有多少名党员？")
    page.keyboard.press("Enter")
    live = page.locator(".qa-results [role=status]")
    expect(live).to_have_count(1)
    expect(live).to_contain_text("找到 5 个段落", timeout=WAIT_MS)
    more = page.locator(".qa-hit").first.get_by_role("button", name="查看上下文")
    more.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".qa-hit").first.locator(".qa-ctx").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".qa-hit").first.get_by_role("button", name="收起上下文")).to_be_focused()
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"


def test_a_long_question_is_cut_with_a_note_and_the_box_stays_small(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page(PHONE)
    page.goto(app_url)
    box = page.get_by_label("问题", exact=True)
    box.fill("横沥镇有多少名党员？" * 500)
    box.press("Enter")
    note = page.locator(".qa-note")
    expect(note).to_contain_text("问题有 5000 字，超过 2000 字的上限，只按前 2000 字查找。", timeout=WAIT_MS)
    expect(note).to_be_in_viewport()
    assert box.bounding_box()["height"] < 160
    shot(page, "long-question-phone")


def test_the_page_is_served_while_the_index_builds(new_page, page_service, real_embedder, tmp_path):
    from playwright.sync_api import expect

    shutil.copytree(DATA, tmp_path / "data")
    (tmp_path / "data" / "market.txt").write_text(NEW_DOC, encoding="utf-8")  # the only document to embed
    (tmp_path / "index").mkdir()
    shutil.copy(page_service.index_dir / CACHE_FILE, tmp_path / "index" / CACHE_FILE)
    gated = GatedEmbedder(real_embedder)
    gated.gate.clear()
    service = Service(tmp_path / "data", tmp_path / "index", embedder=gated)
    try:
        with serving_app(create_app(service, warm_up=True)) as url:
            assert gated.building.wait(WAIT_MS / 1000), "the warm-up did not start building"
            page = new_page(PHONE)
            page.goto(url + "/")
            banner = page.locator(".qa-progress")
            expect(banner).to_contain_text("正在建立索引", timeout=WAIT_MS)
            shot(page, "index-building-phone")
            ask(page, "横沥镇有多少名党员？")  # asked before it can be answered: answered once it can
            waiting = page.locator(".qa-results .qa-notice")
            expect(waiting).to_contain_text("正在建立索引，请稍候。准备好后会自动回答这个问题", timeout=WAIT_MS)
            expect(page.locator(".qa-error")).to_have_count(0)
            response = httpx.post(url + "/api/ask", json={"question": "横沥镇有多少名党员？"}, timeout=60)
            assert response.status_code == 503 and response.json()["detail"].startswith("正在建立索引")
            recent = page.locator(".block", has_text="最近的问题").last
            expect(recent).to_be_hidden()  # a refused question is not kept
            gated.gate.set()
            expect(banner).to_have_count(0, timeout=WAIT_MS)
            expect(page.locator(".qa-collection")).to_contain_text("资料库：3 篇文档", timeout=WAIT_MS)
            expect(page.locator(".qa-hit").first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
            expect(waiting).to_have_count(0)
            expect(recent).to_contain_text("横沥镇有多少名党员？", timeout=WAIT_MS)
            ask(page, "!!!")  # no words: not kept either
            expect(page.locator(".qa-sr")).to_have_attribute("data-question", "!!!", timeout=WAIT_MS)
            ask(page, "横沥镇如何推进乡村振兴？")  # kept after "!!!" would have been
            expect(recent).to_contain_text("横沥镇如何推进乡村振兴？", timeout=WAIT_MS)
            assert "!!!" not in recent.inner_text()
            assert httpx.post(url + "/api/ask", json={"question": "党员"}, timeout=60).status_code == 200
    finally:
        gated.gate.set()
        service.close()


def test_the_embedding_example_says_when_the_service_cannot_be_reached(new_page):
    from playwright.sync_api import expect

    with serving_folder(ROOT / "examples") as site:
        page = new_page()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        down = f"http://127.0.0.1:{free_port()}/"
        page.goto(f"{site}/embed.html?src={down}")
        expect(page.locator("#qa-down")).to_contain_text("无法连接", timeout=WAIT_MS)
        expect(page.locator("#qa-down")).to_contain_text(down)
        shot(page, "embedded-unreachable")
        assert not [r for r in requests if ":7860" in r]  # the default address is not tried first


# What may stay in Latin letters on the Chinese page: kinds of file, and names (of Gradio, of the model, of the
# documents, their titles, and the English example question, there to show that English is understood).
LATIN_ALLOWED = re.compile(r"[\w.-]*\.(txt|md|html?|pdf|docx)\b|\b(PDF|DOCX|HTML|Markdown|TXT|MB|API|Gradio)\b")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_nothing_a_reader_sees_or_hears_is_english(new_page, app_url, page_service, viewport):
    from playwright.sync_api import expect

    from qa.surfaces.page.layout import DEFAULT_EXAMPLES

    page = new_page(viewport)
    page.goto(app_url)
    expect(page.locator(".qa-collection")).to_contain_text("资料库：", timeout=WAIT_MS)
    ask(page, "横沥镇有多少名党员？")
    expect(page.locator(".qa-hit").first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    page.get_by_role("button", name=re.compile("^更多设置")).click()
    seen = page.evaluate("""() => {
        const said = [document.body.innerText];
        for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]'))
            for (const name of ['aria-label', 'title', 'placeholder', 'alt'])
                if (el.getAttribute(name)) said.push(el.getAttribute(name));
        return said.join('\\n');
    }""")
    page.get_by_role("tab", name="资料库").click()
    seen += "\n" + page.locator("body").inner_text()
    names = [*DEFAULT_EXAMPLES, page_service.model,
             *(name for doc in page_service.documents() for name in (doc.document, doc.meta.title))]
    for name in sorted(filter(None, names), key=len, reverse=True):
        seen = seen.replace(name, " ")
    english = sorted({word for word in re.findall(r"[A-Za-z]{3,}", LATIN_ALLOWED.sub(" ", seen))})
    assert not english, "\n".join([str(english)] + [line for line in seen.splitlines() if any(w in line for w in english)])
