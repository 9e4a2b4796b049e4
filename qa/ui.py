"""The Gradio page: `build_demo(service)` returns a fresh Blocks for launching, rendering or mounting."""

from __future__ import annotations

import html
from dataclasses import asdict

import gradio as gr

from qa.errors import QAError
from qa.service import Service

DEFAULT_EXAMPLES = ["横沥镇有多少名党员？", "横沥镇如何推进乡村振兴？", "How many party members does Hengli town have?"]


def answer(service: Service, question: str, top_k: int) -> dict:
    """The JSON answer the page and the HTTP API share: {"question", "hits", "error"}."""
    try:
        hits = service.ask(question, int(top_k))
    except QAError as e:
        return {"question": question, "hits": [], "error": str(e)}
    return {"question": question, "hits": [asdict(h) for h in hits], "error": None}


def render_hits(result: dict | None) -> str:
    """HTML for an answer; every document or question string is escaped."""
    if not result:
        return "<p class='qa-empty'>输入问题，按回车提问。</p>"
    if result.get("error"):
        return f"<p class='qa-error'>{html.escape(result['error'])}</p>"
    if not result["hits"]:
        return "<p class='qa-empty'>没有找到相关段落。</p>"
    return "\n".join(_render_hit(rank, hit) for rank, hit in enumerate(result["hits"], 1))


def _render_hit(rank: int, hit: dict) -> str:
    e = html.escape
    where = f"{hit['document']} 第{hit['page']}页" if hit.get("page") else hit["document"]
    meta = " · ".join(e(x) for x in (hit["source"] and f"来源：{hit['source']}", hit["date"], where) if x)
    return (
        f"<div class='qa-hit'><div class='qa-head'><b>{rank}. {e(hit['title'])}</b> "
        f"<span class='qa-score'>相关度 {hit['score']:.2f}</span></div>"
        f"<div class='qa-meta'>{meta}</div><p class='qa-text'>{e(hit['text'])}</p></div>"
    )


def build_demo(service: Service, examples: list[str] | None = None) -> gr.Blocks:
    """A new Blocks page answering questions with `service`."""
    with gr.Blocks(title="文档问答") as demo:
        gr.Markdown("## 文档问答\n用自然语言提问，返回最能回答问题的段落。")
        with gr.Row():
            question = gr.Textbox(label="问题", placeholder="例如：横沥镇有多少名党员？", scale=5, autofocus=True)
            top_k = gr.Slider(1, 20, value=5, step=1, label="返回段落数", scale=1)
        submit = gr.Button("提问", variant="primary")
        gr.Examples(examples or DEFAULT_EXAMPLES, inputs=question, label="示例问题")
        results = gr.HTML(render_hits(None))
        result_json = gr.JSON(visible=False)

        gr.on(
            [question.submit, submit.click], fn=lambda q, k: answer(service, q, k),
            inputs=[question, top_k], outputs=result_json, api_name="ask",
        ).then(render_hits, inputs=result_json, outputs=results, api_visibility="private")
    return demo
