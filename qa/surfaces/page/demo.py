"""The Gradio page: `build_demo(service)` returns a fresh Blocks for launching, rendering or mounting."""

from __future__ import annotations

import gradio as gr

from qa.service import Service
from qa.surfaces.page import handlers
from qa.surfaces.page.handlers import bind
from qa.surfaces.page.layout import DEFAULT_EXAMPLES, Page, layout
from qa.surfaces.page.render import render_searching

UPLOAD_SECONDS = 300  # how long Gradio keeps an upload, checked as often
ASK_CONCURRENCY = 4  # questions are short; builds run in their own queue and never hold these up
FOOTER_LINKS = ["api", "gradio"]  # no "runs" or "settings" (developer settings: PWA, screen recording) for readers
# No Gradio progress overlays or timers anywhere: the page shows its own states (正在查找…, progress bars).
QUIET = {"show_progress": "hidden", "api_visibility": "private"}
PRIVATE = QUIET | {"concurrency_limit": None}  # the page's own small steps: never queued behind questions
# The focus goes back to this page's 移除… when its confirmation closes (确认移除, 取消): hiding the focused button
# would drop it to <body>. Run in the browser only, on the click.
BACK_TO_REMOVE = """() => {
  let scope = document.activeElement;
  while (scope && !scope.querySelector('.qa-propose')) scope = scope.parentElement;
  (scope || document).querySelector('.qa-propose')?.focus();
}"""


def theme() -> gr.themes.Base:
    """Gradio's default theme with its own texts at 4.5:1 or more: the primary and stop buttons, grey text, the footer,
    the selected tab's label (the accent colour).

    Gradio 6 takes the theme where the page is served (launch, mount_gradio_app); a host page keeps its own.
    """
    page = gr.themes.Default(primary_hue="orange").set(
        button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700", button_primary_background_fill_hover_dark="*primary_800",
        button_cancel_background_fill="#b42318", button_cancel_background_fill_dark="#b42318",
        button_cancel_background_fill_hover="#912018", button_cancel_background_fill_hover_dark="#912018",
        button_cancel_text_color="white", button_cancel_text_color_dark="white",
        body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_400",
        color_accent="*primary_700")
    # set() has no dark accent, but the theme's CSS takes every *_dark attribute for the dark theme: orange 700 is
    # too dark on a dark page, and no one orange reaches 4.5:1 on both white and near-black
    page.color_accent_dark = "*primary_500"
    return page


def build_demo(service: Service, examples: list[str] | None = None) -> gr.Blocks:
    """A new Blocks page answering questions with `service`."""
    # analytics_enabled=False: a private document service calls no one home. delete_cache: uploads are copied into
    # the data folder at once; Gradio's own copies go after UPLOAD_SECONDS (and all of them when the server stops)
    with gr.Blocks(title="文档问答", analytics_enabled=False, delete_cache=(UPLOAD_SECONDS, UPLOAD_SECONDS)) as demo:
        server_functions = [bind(handlers.neighbour_texts, service), bind(handlers.document_html, service)]
        page = layout(service, examples or DEFAULT_EXAMPLES, server_functions)
        wire_questions(page, service)
        wire_load(demo, page, service)
        wire_collection(page, service)
    return demo


def show_answer(event: gr.events.Dependency, page: Page, service: Service) -> None:
    """After `event` answers: show the answer, then keep the question among the recent ones; a question refused
    because the collection was not ready yet is asked again once it is, and that answer shown and kept."""
    shown = event.then(handlers.show, inputs=[page.result_json, page.question, page.chosen], outputs=page.results,
                       **PRIVATE)
    shown.then(handlers.keep, inputs=[page.question, page.history, page.result_json],
               outputs=[page.history, page.recent], **PRIVATE)
    # Waits in a worker thread until the warm-up ends: bounded, in one pool shared by every page's questions
    shown.then(bind(handlers.answer_when_ready, service),
               inputs=[page.result_json, page.question, page.top_k, page.chosen, page.history],
               outputs=[page.results, page.history, page.recent], concurrency_limit=ASK_CONCURRENCY,
               concurrency_id="answer_when_ready", **QUIET)


def wire_questions(page: Page, service: Service) -> None:
    """Asking: a typed question (the endpoint `/ask`), an example, a recent question."""
    asking = {"fn": bind(handlers.ask, service), "inputs": [page.question, page.top_k, page.chosen],
              "outputs": page.result_json, "show_progress": "hidden", "concurrency_limit": ASK_CONCURRENCY}
    started = gr.on([page.question.submit, page.submit.click], render_searching, outputs=page.results, queue=False,
                    **QUIET)
    show_answer(started.then(api_name="ask", **asking), page, service)
    show_answer(page.examples.load_input_event.then(api_visibility="private", **asking), page, service)
    picked = page.recent.click(handlers.pick_recent, inputs=page.recent, outputs=page.question, **PRIVATE)
    show_answer(picked.then(api_visibility="private", **asking), page, service)


def wire_load(demo: gr.Blocks, page: Page, service: Service) -> None:
    """The page's load (the collection, the recent questions, a question in the address), and its refresh while
    the index is built and whenever the collection tab is opened."""
    state = bind(handlers.page_state, service)
    loaded = demo.load(state, inputs=page.chosen, outputs=page.collection_parts(), **PRIVATE)
    loaded.then(handlers.recent_list, inputs=page.history, outputs=page.recent, **PRIVATE)
    from_link = loaded.then(handlers.from_url, inputs=page.question, outputs=[page.question, page.linked], **PRIVATE)
    asked = from_link.then(bind(handlers.ask_if_any, service),
                           inputs=[page.question, page.top_k, page.chosen, page.linked], outputs=page.result_json,
                           concurrency_limit=ASK_CONCURRENCY, **QUIET)
    show_answer(asked, page, service)
    page.timer.tick(state, inputs=page.chosen, outputs=page.collection_parts(), **PRIVATE)
    page.collection_tab.select(state, inputs=page.chosen, outputs=page.collection_parts(), **PRIVATE)


def wire_collection(page: Page, service: Service) -> None:
    """Uploads, and a removal after its confirmation; one at a time."""
    # Files chosen while others are indexed join the queue at once and are indexed in turn: "multiple", because
    # Gradio's default ("once") drops an event fired while the same one is still running.
    queued = page.files.upload(handlers.enqueue, inputs=[page.uploads, page.files], outputs=page.status,
                               trigger_mode="multiple", **PRIVATE)
    queued.then(bind(handlers.upload, service), inputs=[page.uploads, page.chosen], outputs=page.changed_parts(),
                concurrency_limit=1, trigger_mode="multiple", **QUIET)
    page.propose.click(handlers.propose_removal, inputs=page.doomed,
                       outputs=[page.status, page.confirm_box, page.confirm_text], **PRIVATE)
    page.cancel.click(handlers.hide_confirmation, outputs=page.confirm_box, **PRIVATE)
    gr.on([page.cancel.click, page.confirm.click], None, js=BACK_TO_REMOVE, queue=False, **QUIET)
    page.confirm.click(bind(handlers.remove, service), inputs=[page.doomed, page.chosen], outputs=page.changed_parts(),
                       concurrency_limit=1, **QUIET)
