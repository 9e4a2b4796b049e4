"""The page in a real browser (Debian's chromium driven by Playwright), as people and host pages use it.

Skipped when /usr/bin/chromium is missing, unless QA_REQUIRE_BROWSER=1 (as in CI), which makes that a failure.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from qa import Service
from qa.embedding import Embedder
from qa.web import create_app
from tests.conftest import DATA, ROOT
from tests.live import load_example, serving_app, serving_blocks, serving_folder

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
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

    def open_page(viewport: dict = DESKTOP):
        context = browser.new_context(locale="zh-CN", viewport=viewport)
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


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_question_answered_first_with_its_answer_highlighted(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page()
    page.goto(app_url)
    expect(page.locator(".qa-empty")).to_contain_text("输入问题")
    ask(page, "横沥镇有多少名党员？")
    first = page.locator(".qa-hit").first
    expect(first).to_contain_text("全镇共有党员1724名", timeout=WAIT_MS)
    expect(first.locator(".qa-title")).to_contain_text("根基扎牢 枝繁叶茂")
    expect(first.locator(".qa-meta")).to_contain_text("来源：网络 · 2016-12-19")
    expect(first.locator(".qa-score")).to_contain_text("相关度")
    shot(page, "answer-desktop")
    page.set_viewport_size(PHONE)
    shot(page, "answer-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"
    expect(first.locator("mark")).to_contain_text("1724")


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
    first.get_by_role("button", name="查看上下文").click()
    expect(first.locator(".qa-ctx")).to_have_text([p.text for p in around], timeout=WAIT_MS)
    expect(first.locator(".qa-ctx").first).to_be_visible()
    shot(page, "context-open")
    first.get_by_role("button", name="收起上下文").click()
    expect(first.locator(".qa-ctx").first).to_be_hidden()


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
        expect(uploader.locator(".progress-text").first).to_be_visible(timeout=WAIT_MS)
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


def test_a_bad_upload_is_refused_with_a_reason(new_page, app_url, tmp_path):
    from playwright.sync_api import expect

    menu = tmp_path / "menu.txt"
    menu.write_text("首页 | 新闻 | 联系我们\n", encoding="utf-8")
    page = new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="资料库").click()
    page.locator("input[type=file]").set_input_files(str(menu))
    expect(page.locator(".qa-error")).to_contain_text("menu.txt", timeout=WAIT_MS)
    expect(page.locator(".qa-error")).to_contain_text("没有可检索的正文")
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
