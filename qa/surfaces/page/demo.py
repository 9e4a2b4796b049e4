"""The Gradio page: `build_demo(service)` returns a fresh Blocks for launching, rendering or mounting."""

from __future__ import annotations

import html
import queue
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import gradio as gr

from qa.core.errors import QAError
from qa.read.folder import SUPPORTED_SUFFIXES
from qa.answer.search import Result
from qa.service import Service
from qa.surfaces.page.render import (
    STAGES,
    document_choices,
    question_notes,
    render_collection,
    render_document,
    render_hits,
    render_progress,
    render_searching,
    render_summary,
    render_warming,
)

DEFAULT_EXAMPLES = ["全镇共有多少名党员？", "横沥镇如何推进乡村振兴？", "How many party members does Hengli town have?"]
ASK_CONCURRENCY = 4  # questions are short; builds run in their own queue and never hold these up
RECENT_QUESTIONS = 8  # kept in the reader's own browser (localStorage), never on the server
FOOTER_LINKS = ["api", "gradio"]  # no "runs" or "settings" (developer settings: PWA, screen recording) for readers


def asset(name: str) -> str:
    """A text file shipped in this package: page.css, page.js."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


CSS = asset("page.css")  # the styles of every gr.HTML on the page
RESULTS_JS = asset("page.js")  # the results' buttons, the question in the URL, "/" to the question box


def theme() -> gr.themes.Base:
    """Gradio's default theme with its own texts at 4.5:1 or more: the primary and stop buttons, grey text, the footer.

    Gradio 6 takes the theme where the page is served (launch, mount_gradio_app); a host page keeps its own.
    """
    return gr.themes.Default(primary_hue="orange").set(
        button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700", button_primary_background_fill_hover_dark="*primary_800",
        button_cancel_background_fill="#b42318", button_cancel_background_fill_dark="#b42318",
        button_cancel_background_fill_hover="#912018", button_cancel_background_fill_hover_dark="#912018",
        button_cancel_text_color="white", button_cancel_text_color_dark="white",
        body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_400")


def answer(service: Service, question: str, top_k: int, documents: list[str] | None = None) -> Result:
    """The service's result (from `documents` only, if any); one it cannot give has the reason in `error`."""
    try:
        return service.answer(question, int(top_k), documents or None)
    except QAError as e:
        return Result(question, None, [], str(e))



def document_html(service: Service, args: list) -> str:
    """The viewer's HTML for [document, position] (the page's file-name buttons), or an error paragraph."""
    try:
        document, position = args
        if not isinstance(document, str) or not isinstance(position, int):
            raise QAError("无法打开这个文档。")
        return render_document(service.document(document), position)
    except QAError as e:
        return f"<p class='qa-error'>{html.escape(str(e))}</p>"
    except (ValueError, TypeError):
        return "<p class='qa-error'>无法打开这个文档。</p>"



def add_files(service: Service, paths: list[str], progress=None) -> str:
    """Add uploaded files one by one; HTML status naming what was added and what was refused and why.

    `progress(share, desc=...)` (e.g. a gr.Progress) hears the file and the stage of its indexing, in Chinese.
    """
    added, refused = [], []
    limit = service.settings.max_upload_mb
    for n, path in enumerate(paths, 1):
        name = Path(path).name

        def report(stage: str, done: int, total: int, name: str = name, n: int = n) -> None:
            if progress is not None:
                share = done / total if total else 1.0
                progress(share, desc=f"（{n}/{len(paths)}）{name}：{STAGES[stage]} {share:.0%}")

        try:
            if Path(path).stat().st_size > limit << 20:  # before reading it into memory
                raise QAError(f"{name} 超过 {limit} MB，无法添加。/ {name} is larger than {limit} MB.")
            service.add_document(name, Path(path).read_bytes(), progress=report)
            added.append(name)
        except QAError as e:
            refused.append(str(e))
    lines = [f"已加入资料库：{'、'.join(added)}。现在可以就新文档提问。"] if added else []
    status = "".join(f"<p class='qa-status'>{html.escape(line)}</p>" for line in lines)
    return status + "".join(f"<p class='qa-error'>{html.escape(line)}</p>" for line in refused)


def remove_file(service: Service, name: str, progress=None) -> str:
    """Remove one document from the collection (kept under index/removed/); HTML status."""

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            share = done / total if total else 1.0
            progress(share, desc=f"正在移除 {name}：{STAGES[stage]} {share:.0%}")

    try:
        service.remove_document(name, progress=report)
    except QAError as e:
        return f"<p class='qa-error'>{html.escape(str(e))}</p>"
    return f"<p class='qa-status'>{html.escape(f'已从资料库移除：{name}。它不会再出现在答案中（文件保存在索引目录的 removed/ 下）。')}</p>"


def with_progress(work: Callable[[Callable], str]) -> Iterator[tuple[bool, str]]:
    """Run `work(progress)` in a thread: yields (False, progress HTML) as it reports, then (True, its result)."""
    updates: queue.Queue = queue.Queue()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["html"] = work(lambda share, desc="": updates.put((share, desc)))
        except Exception as e:  # handed to the page's handler, which Gradio reports
            outcome["error"] = e
        finally:
            updates.put(None)

    threading.Thread(target=run, daemon=True).start()
    done = False
    while not done:
        latest = updates.get()
        done = latest is None
        while not done and not updates.empty():  # only the newest report is worth showing
            item = updates.get()
            done, latest = item is None, item or latest
        if latest:
            yield False, render_progress(*latest)
    if "error" in outcome:
        raise outcome["error"]
    yield True, outcome["html"]


def neighbour_texts(service: Service, args: list) -> list[dict]:
    """The passages around a hit, for the page's "查看上下文": [{"position", "text"}]; none for malformed arguments.
    A service that cannot answer now (still building, its store down) raises: the page offers to try again."""
    try:
        document, position = args
    except (ValueError, TypeError):
        return []
    if not isinstance(document, str) or not isinstance(position, int) or not 0 <= position < 2**31:
        return []
    return [{"position": p.position, "text": p.text} for p in service.neighbours(document, position)]


def remember(question: str, recent: list | None) -> list[str]:
    """The recent questions with `question` first (once), at most RECENT_QUESTIONS."""
    question = " ".join((question or "").split())[:200]
    earlier = [q for q in recent or [] if isinstance(q, str) and q != question]
    return ([question] if question else []) + earlier[:RECENT_QUESTIONS - bool(question)]


def build_demo(service: Service, examples: list[str] | None = None) -> gr.Blocks:
    """A new Blocks page answering questions with `service`."""

    def ask(question: str, top_k: int, documents: list[str] | None = None) -> dict:
        return answer(service, question, top_k, documents).as_json()

    def show(data: dict | None, question: str, documents: list[str] | None) -> str:
        return render_hits(Result.from_json(data) if data else None, question_notes(question, documents))

    def from_url(question: str, request: gr.Request) -> str:
        asked = (request.query_params.get("q") or "").strip() if request else ""
        return asked if asked and not (question or "").strip() else gr.skip()  # never over what was typed

    def ask_if_any(question: str, top_k: int, documents: list[str] | None, request: gr.Request) -> dict:
        asked = (request.query_params.get("q") or "").strip() if request else ""
        return ask(question, top_k, documents) if asked and (question or "").strip() == asked else gr.skip()

    def recent_list(recent: list | None) -> gr.Dataset:
        return gr.Dataset(samples=[[q] for q in recent or []], visible=bool(recent))

    def keep(question: str, recent: list | None) -> tuple[list[str], gr.Dataset]:
        kept = remember(question, recent)
        return kept, recent_list(kept)

    def state(chosen: list[str] | None) -> tuple:
        """The parts of the page that follow the collection, and the warm-up banner and its timer."""
        warming = service.warming
        if warming is not None and warming.pending:
            wait = "<p class='qa-empty'>正在建立索引…建好后这里会列出资料库的文档。</p>"
            return (gr.HTML(render_warming(warming), visible=True), gr.Timer(active=True), wait, wait,
                    gr.Dropdown(choices=[], value=[]), gr.Dropdown(choices=[], value=None))
        try:
            info = service.info()
        except QAError as e:
            problem = f"<p class='qa-error'>{html.escape(str(e))}</p>"
            return (gr.HTML(render_warming(warming), visible=bool(warming and warming.error)), gr.Timer(active=False),
                    problem, problem, gr.Dropdown(choices=[], value=[]), gr.Dropdown(choices=[], value=None))
        choices = document_choices(info.documents)
        names = {path for _, path in choices}
        return (gr.HTML("", visible=False), gr.Timer(active=False), render_summary(info), render_collection(info),
                gr.Dropdown(choices=choices, value=[c for c in chosen or [] if c in names]),
                gr.Dropdown(choices=choices, value=None))

    def upload(paths: list[str] | None, chosen: list[str] | None) -> Iterator[tuple]:
        if not paths:
            return
        for done, shown in with_progress(lambda progress: add_files(service, paths, progress)):
            if not done:
                yield (shown,) + (gr.skip(),) * 7
        yield (shown,) + state(chosen) + (gr.Column(visible=False),)

    def propose_removal(name: str | None) -> tuple:
        if not name:
            return "<p class='qa-error'>请先选择要移除的文档。</p>", gr.Column(visible=False), ""
        warn = (f"确定要移除 {name} 吗？移除后它不会再出现在答案中；文件会移到索引目录的 removed/ 下保存，"
                f"需要时可以再放回资料文件夹。")
        return "", gr.Column(visible=True), f"<p class='qa-notice'>{html.escape(warn)}</p>"

    def remove(name: str | None, chosen: list[str] | None) -> Iterator[tuple]:
        if not name:
            yield ("<p class='qa-error'>请先选择要移除的文档。</p>",) + (gr.skip(),) * 7
            return
        for done, shown in with_progress(lambda progress: remove_file(service, name, progress)):
            if not done:
                yield (shown,) + (gr.skip(),) * 7
        yield (shown,) + state(chosen) + (gr.Column(visible=False),)

    def context(args: list) -> list[dict]:  # called from RESULTS_JS as server.context
        return neighbour_texts(service, args)

    def document_view(args: list) -> str:  # server.document_view
        return document_html(service, args)

    # analytics_enabled=False: a private document service calls no one home
    with gr.Blocks(title="文档问答", analytics_enabled=False) as demo:
        gr.Markdown("# 文档问答\n用自然语言提问（中文或英文），从资料库中找出回答问题的段落，并标出答案和出处。")
        warming = gr.HTML(render_warming(service.warming), css_template=CSS, visible=False)
        with gr.Tabs():
            with gr.Tab("提问"):
                summary = gr.HTML("<p class='qa-empty'>正在读取资料库…</p>", css_template=CSS)
                question = gr.Textbox(label="问题", placeholder="例如：全镇共有多少名党员？（按 / 键可随时回到这里）",
                                      autofocus=True, lines=1, max_lines=4, elem_classes="qa-question")
                submit = gr.Button("提问", variant="primary")
                with gr.Accordion("更多设置：限定文档、返回段落数", open=False):
                    # custom values: the choices arrive with the page's load event, which an API client never runs;
                    # the service checks the names
                    chosen = gr.Dropdown(choices=[], value=[], multiselect=True, allow_custom_value=True,
                                         label="只在这些文档中查找（不选则查全部）")
                    top_k = gr.Slider(1, 20, value=5, step=1, label="返回段落数")
                # results right under the question (on a phone too); examples and recent questions after them
                results = gr.HTML(render_hits(None), css_template=CSS, js_on_load=RESULTS_JS,
                                  server_functions=[context, document_view], elem_classes="qa-results")
                sample = gr.Examples(examples or DEFAULT_EXAMPLES, inputs=question, label="示例问题（点击即问）")
                recent = gr.Dataset(components=[question], samples=[], label="最近的问题（只保存在本浏览器中）",
                                    visible=False)
            with gr.Tab("资料库") as collection_tab:
                collection = gr.HTML("<p class='qa-empty'>正在读取资料库…</p>", css_template=CSS)
                # Any file is accepted here, so a wrong type is refused by add_files with a reason in Chinese
                # (the widget's own check would show an English notice).
                files = gr.UploadButton("添加文档…", file_count="multiple", variant="primary")
                gr.Markdown(f"可多选；支持 {'、'.join(SUPPORTED_SUFFIXES)}，每个文件不超过 "
                            f"{service.settings.max_upload_mb} MB。添加后即可就新文档提问。")
                with gr.Row():
                    doomed = gr.Dropdown(choices=[], value=None, label="移除文档", scale=3, min_width=200)
                    propose = gr.Button("移除…", scale=1, min_width=100)
                with gr.Column(visible=False) as confirm_box:
                    confirm_text = gr.HTML(css_template=CSS)
                    with gr.Row():
                        confirm = gr.Button("确认移除", variant="stop")
                        cancel = gr.Button("取消")
                status = gr.HTML(css_template=CSS)
        result_json = gr.JSON(visible=False)
        # Kept in the reader's browser only; the secret is fixed so the list outlives a restart of the server.
        history = gr.BrowserState([], storage_key="qa-recent-questions", secret="qa-recent-questions")
        timer = gr.Timer(1.0, active=False)

        page_parts = [warming, timer, summary, collection, chosen, doomed]
        # No Gradio progress overlays or timers anywhere: the page shows its own states (正在查找…, progress bars).
        quiet = dict(show_progress="hidden", api_visibility="private")
        private = dict(quiet, concurrency_limit=None)
        asking = dict(fn=ask, inputs=[question, top_k, chosen], outputs=result_json, show_progress="hidden",
                      concurrency_limit=ASK_CONCURRENCY)

        def answered(event) -> None:
            event.then(show, inputs=[result_json, question, chosen], outputs=results, **private).then(
                keep, inputs=[question, history], outputs=[history, recent], **private)

        started = gr.on([question.submit, submit.click], render_searching, outputs=results, queue=False, **quiet)
        answered(started.then(api_name="ask", **asking))
        answered(sample.load_input_event.then(api_visibility="private", **asking))
        picked = recent.click(lambda sample: sample[0], inputs=recent, outputs=question, **private)
        answered(picked.then(api_visibility="private", **asking))

        loaded = demo.load(state, inputs=chosen, outputs=page_parts, **private)
        loaded.then(recent_list, inputs=history, outputs=recent, **private)
        from_link = loaded.then(from_url, inputs=question, outputs=question, **private)
        answered(from_link.then(ask_if_any, inputs=[question, top_k, chosen], outputs=result_json,
                                concurrency_limit=ASK_CONCURRENCY, **quiet))
        timer.tick(state, inputs=chosen, outputs=page_parts, **private)
        collection_tab.select(state, inputs=chosen, outputs=page_parts, **private)

        changed = [status, warming, timer, summary, collection, chosen, doomed, confirm_box]
        files.upload(upload, inputs=[files, chosen], outputs=changed, concurrency_limit=1, **quiet)
        propose.click(propose_removal, inputs=doomed, outputs=[status, confirm_box, confirm_text], **private)
        cancel.click(lambda: gr.Column(visible=False), outputs=confirm_box, **private)
        confirm.click(remove, inputs=[doomed, chosen], outputs=changed, concurrency_limit=1, **quiet)
    return demo
