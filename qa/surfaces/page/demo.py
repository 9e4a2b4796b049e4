"""The Gradio page: `build_demo(service)` returns a fresh Blocks for launching, rendering or mounting."""

from __future__ import annotations

from importlib import resources

import gradio as gr

from qa.read.folder import SUPPORTED_SUFFIXES
from qa.service import Service
from qa.surfaces.page import handlers
from qa.surfaces.page.handlers import bind
from qa.surfaces.page.render import render_hits, render_searching, render_warming

DEFAULT_EXAMPLES = ["全镇共有多少名党员？", "横沥镇如何推进乡村振兴？", "How many party members does Hengli town have?"]
ASK_CONCURRENCY = 4  # questions are short; builds run in their own queue and never hold these up
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


def build_demo(service: Service, examples: list[str] | None = None) -> gr.Blocks:
    """A new Blocks page answering questions with `service`."""
    ask = bind(handlers.ask, service)
    state = bind(handlers.page_state, service)

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
                                  server_functions=[bind(handlers.neighbour_texts, service), bind(handlers.document_html, service)], elem_classes="qa-results")
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
        linked = gr.State("")  # the question in the page's address, if any
        timer = gr.Timer(1.0, active=False)

        page_parts = [warming, timer, summary, collection, chosen, doomed]
        # No Gradio progress overlays or timers anywhere: the page shows its own states (正在查找…, progress bars).
        quiet = dict(show_progress="hidden", api_visibility="private")
        private = dict(quiet, concurrency_limit=None)
        asking = dict(fn=ask, inputs=[question, top_k, chosen], outputs=result_json, show_progress="hidden",
                      concurrency_limit=ASK_CONCURRENCY)

        def answered(event) -> None:
            event.then(handlers.show, inputs=[result_json, question, chosen], outputs=results, **private).then(
                handlers.keep, inputs=[question, history], outputs=[history, recent], **private)

        started = gr.on([question.submit, submit.click], render_searching, outputs=results, queue=False, **quiet)
        answered(started.then(api_name="ask", **asking))
        answered(sample.load_input_event.then(api_visibility="private", **asking))
        picked = recent.click(handlers.pick_recent, inputs=recent, outputs=question, **private)
        answered(picked.then(api_visibility="private", **asking))

        loaded = demo.load(state, inputs=chosen, outputs=page_parts, **private)
        loaded.then(handlers.recent_list, inputs=history, outputs=recent, **private)
        from_link = loaded.then(handlers.from_url, inputs=question, outputs=[question, linked], **private)
        answered(from_link.then(bind(handlers.ask_if_any, service), inputs=[question, top_k, chosen, linked], outputs=result_json,
                                concurrency_limit=ASK_CONCURRENCY, **quiet))
        timer.tick(state, inputs=chosen, outputs=page_parts, **private)
        collection_tab.select(state, inputs=chosen, outputs=page_parts, **private)

        changed = [status, warming, timer, summary, collection, chosen, doomed, confirm_box]
        files.upload(bind(handlers.upload, service), inputs=[files, chosen], outputs=changed, concurrency_limit=1, **quiet)
        propose.click(handlers.propose_removal, inputs=doomed, outputs=[status, confirm_box, confirm_text], **private)
        cancel.click(handlers.hide_confirmation, outputs=confirm_box, **private)
        confirm.click(bind(handlers.remove, service), inputs=[doomed, chosen], outputs=changed, concurrency_limit=1, **quiet)
    return demo
