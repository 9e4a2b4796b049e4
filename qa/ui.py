"""The Gradio page: `build_demo(service)` returns a fresh Blocks for launching, rendering or mounting."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

import gradio as gr

from qa.errors import QAError
from qa.ingest import SUPPORTED_SUFFIXES
from qa.search import Hit, Result
from qa.service import CollectionInfo, Service
from qa.settings import MAX_QUESTION_CHARS

DEFAULT_EXAMPLES = ["横沥镇有多少名党员？", "横沥镇如何推进乡村振兴？", "How many party members does Hengli town have?"]
EMPTY_STATE = "在上方输入问题，按回车或点击“提问”。答案会显示在这里，并标出出处。"
NO_HITS = "资料库中没有找到相关段落。"
NOT_CONFIDENT = "资料中可能没有这个问题的答案，以下是最接近的段落，仅供参考。"
ASK_CONCURRENCY = 4  # questions are short; builds run in their own queue and never hold these up

# Scoped to each gr.HTML by Gradio (css_template), so it applies when the page is launched, rendered or mounted.
CSS = """
.qa-empty, .qa-error, .qa-notice, .qa-status { padding: 12px 14px; border-radius: 8px; margin: 0 0 12px;
                                               line-height: 1.6; }
.qa-empty { color: var(--body-text-color-subdued); background: var(--background-fill-secondary); }
.qa-error { color: #b42318; background: #fef3f2; border: 1px solid #fecdca; }
.qa-notice { color: #93370d; background: #fffaeb; border: 1px solid #fedf89; }
.qa-status { color: #05603a; background: #ecfdf3; border: 1px solid #abefc6; }
.qa-hit { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 14px 16px; margin: 0 0 12px;
          background: var(--background-fill-primary); }
.qa-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.qa-title { font-weight: 600; font-size: 1.05em; flex: 1 1 14em; overflow-wrap: anywhere; }
.qa-score { display: inline-flex; align-items: center; gap: 6px; font-size: 0.85em;
            color: var(--body-text-color-subdued); white-space: nowrap; }
.qa-bar { display: inline-block; width: 72px; height: 6px; border-radius: 3px; background: var(--border-color-primary);
          overflow: hidden; }
.qa-bar > span { display: block; height: 100%; background: var(--color-accent); }
.qa-meta { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 4px 0 8px; overflow-wrap: anywhere; }
.qa-text { margin: 0; line-height: 1.75; white-space: pre-wrap; overflow-wrap: anywhere; }
.qa-text mark { background: #fde68a; color: #1f2328; padding: 1px 2px; border-radius: 3px; }
.qa-before, .qa-after { display: none; }
.qa-open .qa-before, .qa-open .qa-after { display: block; }
.qa-ctx { margin: 8px 0; padding-left: 10px; border-left: 3px solid var(--border-color-primary); line-height: 1.7;
          color: var(--body-text-color-subdued); white-space: pre-wrap; overflow-wrap: anywhere; }
.qa-more { margin-top: 8px; padding: 2px 10px; font-size: 0.85em; border-radius: 6px; cursor: pointer;
           border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
           color: var(--body-text-color); }
.qa-stats { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0 0 10px; font-size: 0.9em;
            overflow-wrap: anywhere; }
.qa-stats b { font-weight: 600; }
.qa-docs-wrap { overflow-x: auto; }
.qa-docs { width: 100%; border-collapse: collapse; font-size: 0.9em; }
.qa-docs th, .qa-docs td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--border-color-primary);
                           vertical-align: top; }
.qa-docs th, .qa-docs td.qa-nowrap { white-space: nowrap; }
.qa-docs .qa-num { text-align: right; }
.qa-file { color: var(--body-text-color-subdued); font-size: 0.85em; overflow-wrap: anywhere; }
"""

# Neighbouring passages are fetched when asked for, and inserted as text (textContent), never as HTML.
CONTEXT_JS = """
element.addEventListener('click', async (event) => {
  const button = event.target.closest('.qa-more');
  if (!button) return;
  const hit = button.closest('.qa-hit');
  if (!hit.dataset.loaded) {
    button.disabled = true;
    button.textContent = '加载中…';
    try {
      const position = Number(button.dataset.position);
      const rows = await server.context([button.dataset.document, position]);
      for (const row of rows) {
        const p = document.createElement('p');
        p.className = 'qa-ctx';
        p.textContent = row.text;
        hit.querySelector(row.position < position ? '.qa-before' : '.qa-after').append(p);
      }
      if (!rows.length) {
        const p = document.createElement('p');
        p.className = 'qa-ctx';
        p.textContent = '这一段前后没有其他段落。';
        hit.querySelector('.qa-after').append(p);
      }
      hit.dataset.loaded = '1';
    } catch (error) {
      button.disabled = false;
      button.textContent = '加载失败，点击重试';
      return;
    }
    button.disabled = false;
  }
  const open = hit.classList.toggle('qa-open');
  button.textContent = open ? '收起上下文' : '查看上下文';
});
"""


def answer(service: Service, question: str, top_k: int) -> Result:
    """The service's result; a question it cannot take comes back as a result with the reason in `error`."""
    try:
        return service.answer(question, int(top_k))
    except QAError as e:
        return Result(question, None, [], str(e))


def render_hits(result: Result | None) -> str:
    """HTML for an answer; every document or question string is escaped."""
    if result is None:
        return f"<p class='qa-empty'>{EMPTY_STATE}</p>"
    if result.error:
        return f"<p class='qa-error'>{html.escape(result.error)}</p>"
    if not result.hits:
        return f"<p class='qa-empty'>{NO_HITS}</p>"
    notice = f"<p class='qa-notice'>{NOT_CONFIDENT}</p>" if result.confident is False else ""
    best = max(result.hits[0].score, 1e-9)  # fused scores are unbounded: bars are relative to the best hit
    return notice + "\n".join(_render_hit(rank, hit, best) for rank, hit in enumerate(result.hits, 1))


def _render_hit(rank: int, hit: Hit, best: float) -> str:
    e = html.escape
    percent = round(max(0.0, min(1.0, hit.score / best)) * 100)
    where = f"{hit.document} 第{hit.page}页" if hit.page else hit.document
    meta = [f"来源：{hit.source}" if hit.source else "", hit.date, where, f"小节：{hit.heading}" if hit.heading else ""]
    return (
        f"<article class='qa-hit'><div class='qa-head'>"
        f"<span class='qa-title'>{rank}. {e(hit.title or hit.document)}</span>"
        f"<span class='qa-score' title='相关度 {hit.score:.3f}'><span class='qa-bar'>"
        f"<span style='width:{percent}%'></span></span>相关度 {percent}%</span></div>"
        f"<div class='qa-meta'>{' · '.join(e(m) for m in meta if m)}</div>"
        f"<div class='qa-before'></div><p class='qa-text'>{_highlighted(hit)}</p>"
        f"<div class='qa-after'></div><button type='button' class='qa-more' data-document='{e(hit.document)}' "
        f"data-position='{int(hit.position)}'>查看上下文</button></article>"
    )


def _highlighted(hit: Hit) -> str:
    """The passage as HTML with the answering span, if any, in <mark>."""
    text, span = hit.text, hit.answer
    if span is None or not 0 <= span.start < span.end <= len(text):
        return html.escape(text)
    return (f"{html.escape(text[:span.start])}<mark>{html.escape(text[span.start:span.end])}</mark>"
            f"{html.escape(text[span.end:])}")


def render_collection(info: CollectionInfo) -> str:
    """HTML for the collection panel: totals, model, index size, and one row per document."""
    e = html.escape
    stats = [("文档", f"{len(info.documents)} 篇"), ("段落", f"{info.passages} 段"),
             ("索引大小", _size(info.index_bytes)), ("模型", info.model), ("更新时间", _when(info.built))]
    rows = "".join(
        f"<tr><td>{e(d.title or d.path)}<div class='qa-file'>{e(d.path)}</div></td>"
        f"<td class='qa-nowrap'>{e(d.date)}</td><td class='qa-num qa-nowrap'>{d.passages}</td></tr>"
        for d in info.documents
    )
    return (
        "<div class='qa-stats'>" + "".join(f"<span>{k}：<b>{e(v)}</b></span>" for k, v in stats) + "</div>"
        f"<div class='qa-docs-wrap'><table class='qa-docs'><thead><tr><th>标题 / 文件</th><th>日期</th>"
        f"<th class='qa-num'>段落</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _when(iso: str) -> str:
    """An ISO timestamp as minutes, or as given if it is not one."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return iso


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.0f} KB"


def collection_html(service: Service) -> str:
    """The collection panel, or the error that keeps it from loading."""
    try:
        return render_collection(service.info())
    except QAError as e:
        return f"<p class='qa-error'>{html.escape(str(e))}</p>"


STAGES = {"read": "读取", "split": "切分", "embed": "向量化", "write": "写入"}  # a build's stages, as the page names them


def add_files(service: Service, paths: list[str], progress=None) -> str:
    """Add uploaded files one by one; HTML status naming what was added and what was refused and why.

    `progress(share, desc=...)` (a gr.Progress) hears the file and the stage of its indexing, in Chinese.
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


def neighbour_texts(service: Service, args: list) -> list[dict]:
    """The passages around a hit, for the page's "查看上下文": [{"position", "text"}]; none for malformed arguments."""
    try:
        document, position = args
        if not isinstance(document, str) or not isinstance(position, int) or not 0 <= position < 2**31:
            return []
        return [{"position": p.position, "text": p.text} for p in service.neighbours(document, position)]
    except (QAError, ValueError, TypeError):
        return []


def build_demo(service: Service, examples: list[str] | None = None) -> gr.Blocks:
    """A new Blocks page answering questions with `service`."""

    def ask(question: str, top_k: int) -> dict:
        return answer(service, question, top_k).as_json()

    def show(data: dict | None) -> str:
        return render_hits(Result.from_json(data) if data else None)

    def upload(paths: list[str] | None, progress=gr.Progress()) -> tuple[str, str, None]:
        return add_files(service, paths or [], progress), collection_html(service), None

    def context(args: list) -> list[dict]:  # called from CONTEXT_JS as server.context
        return neighbour_texts(service, args)

    # analytics_enabled=False: a private document service calls no one home
    with gr.Blocks(title="文档问答", analytics_enabled=False) as demo:
        gr.Markdown("## 文档问答\n用自然语言提问（中文或英文），从资料库中找出回答问题的段落，并标出答案和出处。")
        with gr.Tabs():
            with gr.Tab("提问"):
                with gr.Row(equal_height=True):
                    question = gr.Textbox(label="问题", placeholder="例如：横沥镇有多少名党员？", scale=4,
                                          min_width=240, autofocus=True, max_length=MAX_QUESTION_CHARS)
                    top_k = gr.Slider(1, 20, value=5, step=1, label="返回段落数", scale=1, min_width=220)
                submit = gr.Button("提问", variant="primary")
                sample = gr.Examples(examples or DEFAULT_EXAMPLES, inputs=question, label="示例问题（点击即问）")
                results = gr.HTML(render_hits(None), css_template=CSS, js_on_load=CONTEXT_JS,
                                  server_functions=[context], elem_classes="qa-results")
            with gr.Tab("资料库") as collection_tab:
                collection = gr.HTML("<p class='qa-empty'>正在读取资料库…</p>", css_template=CSS)
                files = gr.File(label=f"添加文档（{'、'.join(SUPPORTED_SUFFIXES)}，可多选）", file_count="multiple",
                                file_types=list(SUPPORTED_SUFFIXES), height=140)
                status = gr.HTML(css_template=CSS)
        result_json = gr.JSON(visible=False)

        asking = dict(fn=ask, inputs=[question, top_k], outputs=result_json, show_progress_on=results,
                      concurrency_limit=ASK_CONCURRENCY)
        for asked in (gr.on([question.submit, submit.click], api_name="ask", **asking),
                      sample.load_input_event.then(api_visibility="private", **asking)):
            asked.then(show, inputs=result_json, outputs=results, api_visibility="private",
                       concurrency_limit=None)
        collection_tab.select(lambda: collection_html(service), outputs=collection, api_visibility="private",
                              concurrency_limit=None)
        files.upload(upload, inputs=files, outputs=[status, collection, files], api_visibility="private",
                     concurrency_limit=1, show_progress_on=status)
    return demo

