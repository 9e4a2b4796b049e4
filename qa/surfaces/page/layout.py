"""The page's components: `layout` places them (inside a gr.Blocks) and returns them, for demo.py to wire."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import gradio as gr

from qa.read.folder import SUPPORTED_SUFFIXES
from qa.service import Service
from qa.surfaces.page.render import render_hits, render_message, render_warming

DEFAULT_EXAMPLES = ["全镇共有多少名党员？", "横沥镇如何推进乡村振兴？", "How many party members does Hengli town have?"]
READING = "正在读取资料库…"


def asset(name: str) -> str:
    """A text file shipped in this package: page.css, page.js, times.js."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


CSS = asset("page.css")  # the styles of every gr.HTML on the page
RESULTS_JS = asset("page.js")  # the results' buttons, the question in the URL, "/" to the question box
TIMES_JS = asset("times.js")  # the collection's times in the reader's local time


@dataclass
class Page:
    """The components the page's events read and change."""

    warming: gr.HTML  # the banner while the index is built or the model loads
    summary: gr.HTML  # the question tab's line about the collection
    question: gr.Textbox
    submit: gr.Button
    chosen: gr.Dropdown  # the documents to search in
    top_k: gr.Slider
    results: gr.HTML
    examples: gr.Examples
    recent: gr.Dataset  # the recent questions, under the results
    collection_tab: gr.Tab
    collection: gr.HTML  # the collection panel
    files: gr.UploadButton
    doomed: gr.Dropdown  # the document to remove
    propose: gr.Button
    confirm_box: gr.Column
    confirm_text: gr.HTML
    confirm: gr.Button
    cancel: gr.Button
    status: gr.HTML  # what an upload or a removal did
    uploads: gr.State  # the files chosen for upload and their states (handlers.Queued), shared by this session's events
    result_json: gr.JSON  # the answer as `/ask` returns it, before it is shown
    history: gr.BrowserState  # the recent questions, in the reader's browser
    linked: gr.State  # the question in the page's address, if any
    timer: gr.Timer  # refreshes the page while the index is built

    def collection_parts(self) -> list[gr.components.Component]:
        """What follows the collection, in the order of handlers.page_state's outputs."""
        return [self.warming, self.timer, self.summary, self.collection, self.chosen, self.doomed]

    def changed_parts(self) -> list[gr.components.Component]:
        """What an upload or a removal changes, in the order of handlers.upload's and handlers.remove's outputs."""
        return [self.status, *self.collection_parts(), self.confirm_box]


def layout(service: Service, examples: list[str], server_functions: list[Callable]) -> Page:
    """Place the page's components in the current gr.Blocks; `server_functions` serve the results' buttons."""
    gr.Markdown("# 文档问答\n用自然语言提问（中文或英文），从资料库中找出回答问题的段落，并标出答案和出处。")
    warming = gr.HTML(render_warming(service.warming), css_template=CSS, visible=False)
    with gr.Tabs():
        with gr.Tab("提问"):
            summary = gr.HTML(render_message("empty", READING), css_template=CSS)
            question = gr.Textbox(label="问题", placeholder="例如：全镇共有多少名党员？（按 / 键可随时回到这里）",
                                  autofocus=True, lines=1, max_lines=4, elem_classes="qa-question")
            submit = gr.Button("提问", variant="primary")
            with gr.Accordion("更多设置：限定文档、返回段落数", open=False, elem_classes="qa-settings"):
                # custom values: the choices arrive with the page's load event, which an API client never runs;
                # the service checks the names
                chosen = gr.Dropdown(choices=[], value=[], multiselect=True, allow_custom_value=True,
                                     label="只在这些文档中查找（不选则查全部）")
                top_k = gr.Slider(1, 20, value=5, step=1, label="返回段落数")
            # results right under the question (on a phone too); examples and recent questions after them
            results = gr.HTML(render_hits(None), css_template=CSS, js_on_load=RESULTS_JS,
                              server_functions=server_functions, elem_classes="qa-results")
            sample = gr.Examples(examples, inputs=question, label="示例问题（点击即问）")
            recent = gr.Dataset(components=[question], samples=[], label="最近的问题（只保存在本浏览器中）",
                                visible=False)
        with gr.Tab("资料库") as collection_tab:
            collection = gr.HTML(render_message("empty", READING), css_template=CSS, js_on_load=TIMES_JS)
            # Any file is accepted here, so a wrong type is refused by add_file with a reason in Chinese
            # (the widget's own check would show an English notice).
            files = gr.UploadButton("添加文档…", file_count="multiple", variant="primary")
            gr.Markdown(f"可多选；支持 {'、'.join(SUPPORTED_SUFFIXES)}，每个文件不超过 "
                        f"{service.settings.max_upload_mb} MB。添加后即可就新文档提问。")
            with gr.Row():
                doomed = gr.Dropdown(choices=[], value=None, label="移除文档", scale=3, min_width=200)
                propose = gr.Button("移除…", scale=1, min_width=100, elem_classes="qa-propose")
            with gr.Column(visible=False) as confirm_box:
                confirm_text = gr.HTML(css_template=CSS)
                with gr.Row():
                    confirm = gr.Button("确认移除", variant="stop")
                    cancel = gr.Button("取消")
            status = gr.HTML(css_template=CSS)
    result_json = gr.JSON(visible=False)
    # Kept in the reader's browser only; the secret is fixed so the list outlives a restart of the server.
    history = gr.BrowserState([], storage_key="qa-recent-questions", secret="qa-recent-questions")
    linked = gr.State("")
    uploads = gr.State([])
    timer = gr.Timer(1.0, active=False)
    return Page(warming, summary, question, submit, chosen, top_k, results, sample, recent, collection_tab, collection,
                files, doomed, propose, confirm_box, confirm_text, confirm, cancel, status, uploads, result_json,
                history, linked, timer)
