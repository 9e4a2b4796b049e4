"""Render the question page inside your own Gradio app, twice.

    python examples/render_in_host.py      # then open http://127.0.0.1:7860

`build_demo` returns a new Blocks on every call, so each copy has its own question, results and state.
Build the copies before the host's `with gr.Blocks()`, then `.render()` them inside it: a Blocks created
inside another one is already placed there, and rendering it again would show it twice.
"""

import gradio as gr

from qa import Service
from qa.surfaces.page import FOOTER_LINKS, build_demo, theme


def make_host(service: Service) -> gr.Blocks:
    """A host page with its own header and two independent copies of the question page."""
    left, right = build_demo(service), build_demo(service)
    with gr.Blocks(title="我的应用") as host:
        gr.Markdown("# 我的应用\n下面并排放了两份问答页面，可以分别提问、对照结果。")
        with gr.Row():
            with gr.Column(min_width=320):
                left.render()
            with gr.Column(min_width=320):
                right.render()
    return host


if __name__ == "__main__":
    service = Service("data", "index")
    service.open()
    make_host(service).launch(server_name="127.0.0.1", server_port=7860, footer_links=FOOTER_LINKS,
                              run_history=False, theme=theme())
