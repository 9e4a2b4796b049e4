"""The page's HTML, from plain values: answers, the collection, a document, progress. Everything shown is escaped."""

from __future__ import annotations

import html
import re
import time
from datetime import datetime

from qa.answer.search import Hit, Result
from qa.core.settings import MAX_QUESTION_CHARS
from qa.index.base import DocumentInfo, StoredPassage
from qa.service import CollectionInfo, WarmUp

EMPTY_STATE = "在上方输入问题，按回车或点击“提问”。答案会显示在这里，并标出出处。"
NO_HITS = "资料库中没有找到相关段落。"
NOT_CONFIDENT = "资料中可能没有这个问题的答案，以下是最接近的段落，仅供参考。"
SEARCHING = "正在查找…"
WILL_ANSWER = "准备好后会自动回答这个问题，不必重新提问。"
# A build's stages, as the page names them ("wait": another build must finish first).
STAGES = {"wait": "等待其他更新完成", "read": "读取", "split": "切分", "embed": "向量化", "write": "写入"}
# Each stage's part of a build's one progress bar, in the order they run: embedding takes most of the time.
STAGE_SHARES = {"read": 0.1, "split": 0.05, "embed": 0.75, "write": 0.1}
# An uploaded file's states ("held": its build waits for another build to finish)
UPLOAD_STATES = {"waiting": "等待", "held": "等待其他更新完成", "reading": "读取中", "done": "完成", "skipped": "已跳过"}
MODEL_STEPS = {"embedder": "向量模型", "reader": "阅读模型"}  # the warm-up's model stage, step by step
RELEVANCE = {"high": "高", "medium": "中", "low": "低"}
RELEVANCE_HELP = "相关度按固定标准给出：高 = 很可能回答了问题；中 = 可能相关；低 = 多半不回答这个问题"


# The app's own English messages that reach the page (reading an upload, building), in Chinese; the CLI keeps them.
SKIPPED = " The file was skipped."
IN_CHINESE = [(re.compile(english), chinese) for english, chinese in [
    (r"(?P<n>.+) is empty\.", "{n} 是空文件，没有可以添加的内容。"),
    (r"(?P<n>.+) contains NUL bytes, so it is binary rather than text\.", "{n} 是二进制文件，不是文本，无法读取。"),
    (r"(?P<n>.+) is mostly control characters, so it is binary rather than text\.",
     "{n} 大多是控制字符，不是文本，无法读取。"),
    (r"(?P<n>.+) is not text in UTF-8, GB18030/GBK or Big5\.", "{n} 不是 UTF-8、GB18030/GBK 或 Big5 编码的文本，无法读取。"),
    (r"(?P<n>.+) has a (?P<e>\S+) byte-order mark but is not valid (?P=e)\.",
     "{n} 带有 {e} 字节顺序标记，内容却不是有效的 {e} 文本，无法读取。"),
    (r"(?P<n>.+) is a password-protected PDF\.", "{n} 是加密的 PDF，无法读取。"),
    (r"(?P<n>.+) is not a readable PDF \(.*\)\.", "{n} 不是可以读取的 PDF 文件。"),
    (r"(?P<n>.+) is not a readable Word \(\.docx\) file \(.*\)\.", "{n} 不是可以读取的 Word（.docx）文件。"),
    (r"(?P<n>.+) took longer than (?P<s>\S+) s to read \(QA_READ_SECONDS\), so it was stopped\.",
     "{n} 读取超过 {s} 秒，已停止。"),
    (r"(?P<n>.+) needs more memory to read than QA_READ_MEMORY_MB allows\.", "{n} 读取所需的内存超过上限，无法读取。"),
    (r"(?P<n>.+) could not be read \(.*\)\.", "{n} 无法读取。"),
    (r"The index in .* could not be written .*", "索引无法写入（磁盘可能已满或没有写入权限），请联系管理员。"),
    (r"The model failed on every text.*", "模型处理文本失败，没有建立索引，请联系管理员。"),
    (r"No readable documents in .*", "资料文件夹中没有可以读取的文档。"),
]]


def in_chinese(message: str) -> str:
    """The app's message as the page shows it: the Chinese half of a "中文。/ English" one, a known English one in
    Chinese, any other as it is."""
    if "。/ " in message:
        return message[:message.index("。/ ") + 1]
    skipped = message.endswith(SKIPPED)
    english = message.removesuffix(SKIPPED)
    for pattern, chinese in IN_CHINESE:
        if found := pattern.fullmatch(english):
            return chinese.format(**found.groupdict()) + ("已跳过这个文件。" if skipped else "")
    return message


def render_message(kind: str, text: str) -> str:
    """One paragraph of `text` (the app's messages in Chinese), escaped, styled as `kind`: "error", "notice",
    "status" or "empty"."""
    return f"<p class='qa-{kind}'>{html.escape(in_chinese(text))}</p>"


def render_searching() -> str:
    """The results while a question is being answered."""
    return f"<p class='qa-sr' role='status'>{SEARCHING}</p><p class='qa-empty'>{SEARCHING}</p>"


def render_waiting(reason: str) -> str:
    """The results while a question waits for the collection to be ready: why (the service's message), and that it
    will be answered then."""
    text = html.escape(f"{in_chinese(reason)}{WILL_ANSWER}")
    return f"<p class='qa-sr' role='status'>{text}</p><p class='qa-notice'>{text}</p>"


def render_hits(result: Result | None, notes: list[str] | tuple[str, ...] = ()) -> str:
    """HTML for an answer, after `notes` (what the reader should know about the question); everything is escaped.

    The first element is always the polite live region, so a screen reader hears a one-line summary of each answer.
    Hits of low relevance are folded under "更多"; an answer is only marked in a hit that seems to answer.
    """
    e = html.escape
    lead = "".join(f"<p class='qa-note'>{e(n)}</p>" for n in notes)
    if result is None:
        return f"<p class='qa-sr' role='status'></p><p class='qa-empty'>{EMPTY_STATE}</p>"
    if result.error:
        error = e(in_chinese(result.error))
        return f"<p class='qa-sr' role='status'>{error}</p>{lead}<p class='qa-error'>{error}</p>"
    if not result.hits:  # nothing found (or a question without words): one message, not "0 found" beside "closest"
        status = f"<p class='qa-sr' role='status' data-question='{e(result.question)}'>{NO_HITS}</p>"
        return f"{status}{lead}<p class='qa-empty'>{NO_HITS}</p>"
    status = f"<p class='qa-sr' role='status' data-question='{e(result.question)}'>{e(_summary(result))}</p>"
    notice = f"<p class='qa-notice'>{NOT_CONFIDENT}</p>" if result.confident is False else ""
    answers = result.confident is not False
    ranked = list(enumerate(result.hits, 1))
    strong = "".join(_render_hit(rank, hit, answers) for rank, hit in ranked if hit.relevance != "low")
    weak = [_render_hit(rank, hit, False) for rank, hit in ranked if hit.relevance == "low"]
    folded = (f"<details class='qa-weak'><summary>更多：{len(weak)} 个相关度低的段落（多半不回答这个问题）</summary>"
              f"{''.join(weak)}</details>") if weak else ""
    return status + lead + notice + strong + folded + DOCUMENT_DIALOG


DOCUMENT_DIALOG = ("<dialog class='qa-doc' aria-label='文档全文'><div class='qa-doc-bar'>"
                   "<button type='button' class='qa-doc-close'>关闭</button></div><div class='qa-doc-body'></div></dialog>")


def _summary(result: Result) -> str:
    """One line for the live region: how many passages, how relevant."""
    counts = {level: sum(h.relevance == level for h in result.hits) for level in RELEVANCE}
    found = f"找到 {len(result.hits)} 个段落：相关度高 {counts['high']} 个，中 {counts['medium']} 个，低 {counts['low']} 个。"
    return (NOT_CONFIDENT + found) if result.confident is False else found


def _render_hit(rank: int, hit: Hit, answers: bool) -> str:
    """One hit; its answer span is marked only when `answers` and the hit is not of low relevance."""
    e = html.escape
    level = hit.relevance if hit.relevance in RELEVANCE else "low"
    where = f"{hit.document} 第{hit.page}页" if hit.page else hit.document
    opener = (f"<button type='button' class='qa-open-doc' data-document='{e(hit.document)}' "
              f"data-position='{int(hit.position)}' title='在文档中查看这一段'>{e(where)}</button>")
    meta = [e(f"来源：{hit.source}") if hit.source else "", e(hit.date), opener,
            e(f"小节：{hit.heading}") if hit.heading else ""]
    about = e(f"{hit.title or hit.document} 第{int(hit.position) + 1}段")  # names the hit each button acts on
    return (
        f"<article class='qa-hit qa-hit-{level}'><div class='qa-head'>"
        f"<h2 class='qa-title'>{rank}. {e(hit.title or hit.document)}</h2>"
        f"<span class='qa-rel qa-rel-{level}' title='{RELEVANCE_HELP}'><span class='qa-meter' aria-hidden='true'>"
        f"<i></i><i></i><i></i></span>相关度：{RELEVANCE[level]}</span></div>"
        f"<div class='qa-meta'>{' · '.join(m for m in meta if m)}</div>"
        f"<div class='qa-before'></div><p class='qa-text'>{_highlighted(hit, answers and level != 'low')}</p>"
        f"<div class='qa-after'></div><div class='qa-actions'>"
        f"<button type='button' class='qa-more' aria-expanded='false' aria-label='查看上下文：{about}' "
        f"data-document='{e(hit.document)}' data-position='{int(hit.position)}'>查看上下文</button>"
        f"<button type='button' class='qa-copy' aria-label='复制：{about}' data-copy='{e(copy_text(hit))}'>复制</button>"
        f"</div></article>"
    )


def _highlighted(hit: Hit, mark: bool) -> str:
    """The passage as HTML, with the answering span, if any and if `mark`, in <mark>."""
    text, span = hit.text, hit.answer
    if not mark or span is None or not 0 <= span.start < span.end <= len(text):
        return html.escape(text)
    return f"{html.escape(text[:span.start])}{_answer_span(hit)}{html.escape(text[span.end:])}"


def _answer_span(hit: Hit) -> str:
    """The marked answer span, with the exact answer phrase inside it in <b> when the answer has one."""
    span, text = hit.answer, hit.text
    exact = span.exact
    if exact is None or not span.start <= exact.start < exact.end <= span.end:
        return f"<mark>{html.escape(text[span.start:span.end])}</mark>"
    return (f"<mark>{html.escape(text[span.start:exact.start])}<b class='qa-exact'>"
            f"{html.escape(text[exact.start:exact.end])}</b>{html.escape(text[exact.end:span.end])}</mark>")


def copy_text(hit: Hit) -> str:
    """The passage with its citation (title, source, date, file and page), as plain text for the clipboard."""
    where = f"{hit.document}，第 {hit.page} 页" if hit.page else hit.document
    cited = [f"《{hit.title}》" if hit.title else "", f"来源：{hit.source}" if hit.source else "", hit.date,
             f"文件：{where}"]
    return f"{hit.text}\n——{'，'.join(c for c in cited if c)}"


def question_notes(question: str | None, documents: list[str] | None) -> list[str]:
    """What the reader should know about how a question was asked: a filter in force, a question cut short."""
    notes = []
    if documents:
        notes.append(f"只在选定的 {len(documents)} 篇文档中查找（在“更多设置”中更改）。")
    length = len((question or "").strip())
    if length > MAX_QUESTION_CHARS:
        notes.append(f"问题有 {length} 字，超过 {MAX_QUESTION_CHARS} 字的上限，只按前 {MAX_QUESTION_CHARS} 字查找。")
    return notes


def render_summary(info: CollectionInfo) -> str:
    """The question tab's one line about the collection, with the documents' titles a click away."""
    e = html.escape
    items = "".join(f"<li>{e(d.meta.title or d.document)} <span class='qa-file'>{e(d.document)}</span></li>"
                    for d in info.documents)
    return (f"<details class='qa-collection'><summary>资料库：{len(info.documents)} 篇文档，{info.passages} 个段落"
            f"</summary><ul>{items}</ul></details>")


def render_collection(info: CollectionInfo) -> str:
    """HTML for the collection panel: totals, model, index size, and one row per document."""
    e = html.escape
    stats = [("文档", f"{len(info.documents)} 篇"), ("段落", f"{info.passages} 段"),
             ("索引大小", _size(info.index_bytes)), ("模型", e(info.model)), ("更新时间", _when(info.built)),
             ("检索", "语义 + 关键词" if info.lexical else "仅语义（无关键词检索）")]
    rows = "".join(
        f"<tr><td>{e(d.meta.title or d.document)}<div class='qa-file'>{e(d.document)}</div></td>"
        f"<td class='qa-nowrap'>{e(d.meta.date)}</td><td class='qa-num qa-nowrap'>{d.passages}</td></tr>"
        for d in info.documents
    )
    return (
        "<div class='qa-stats'>" + "".join(f"<span>{k}：<b>{v}</b></span>" for k, v in stats) + "</div>"
        f"<div class='qa-docs-wrap'><table class='qa-docs'><thead><tr><th>标题 / 文件</th><th>日期</th>"
        f"<th class='qa-num'>段落</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def render_document(passages: list[StoredPassage], position: int) -> str:
    """A document's text, passage by passage, for the viewer: page and section marks, passage `position` marked."""
    e = html.escape
    first = passages[0]
    rows, page, heading = [], None, ""
    for p in passages:
        if p.page and p.page != page:
            rows.append(f"<p class='qa-page'>第 {int(p.page)} 页</p>")
            page = p.page
        if p.heading and p.heading != heading:
            rows.append(f"<h3 class='qa-doc-heading'>{e(p.heading)}</h3>")
            heading = p.heading
        here = " qa-here' tabindex='-1' aria-current='true" if p.position == position else ""
        rows.append(f"<p class='qa-para{here}' data-position='{int(p.position)}'>{e(p.text)}</p>")
    meta = first.meta
    about = " · ".join(e(x) for x in (first.document, meta.source and f"来源：{meta.source}", meta.date) if x)
    return (f"<h2 class='qa-doc-title'>{e(meta.title or first.document)}</h2><p class='qa-file'>{about} · "
            f"{len(passages)} 段</p>{''.join(rows)}")



def document_choices(documents: list[DocumentInfo]) -> list[tuple[str, str]]:
    """(label, file name) for the document pickers: the title, with the file name when the title is missing or shared.

    Labels are plain text: the dropdown shows them as text, never as HTML.
    """
    titles = [d.meta.title.strip() for d in documents]
    return [(d.document if not t else t if titles.count(t) == 1 else f"{t}（{d.document}）", d.document)
            for d, t in zip(documents, titles)]


def build_share(stage: str, done: int, total: int) -> float:
    """How far a build is, 0 to 1, from one report of its stage: the stages before, then this one's part of its
    share (so the bar never goes back when a stage begins); 0 before the first report."""
    if stage not in STAGE_SHARES:
        return 0.0
    stages = list(STAGE_SHARES)
    before = sum(STAGE_SHARES[s] for s in stages[:stages.index(stage)])
    return before + STAGE_SHARES[stage] * (min(1.0, done / total) if total else 1.0)


def render_progress(share: float | None, desc: str) -> str:
    """One progress display: what is being done (Chinese, with the share done) over a bar; a busy bar without a
    value for a share of None (work that cannot say how far it is)."""
    if share is None:
        return (f"<div class='qa-progress' role='progressbar' aria-label='{html.escape(desc)}'><p "
                f"class='qa-progress-text'>{html.escape(desc)}</p><div class='qa-track qa-busy'><span></span></div>"
                f"</div>")
    percent = round(max(0.0, min(1.0, share)) * 100)
    return (f"<div class='qa-progress' role='progressbar' aria-valuemin='0' aria-valuemax='100' "
            f"aria-valuenow='{percent}' aria-label='{html.escape(desc)}'><p class='qa-progress-text'>"
            f"{html.escape(desc)}</p><div class='qa-track'><span style='width:{percent}%'></span></div></div>")


def render_uploads(files: list[tuple[str, str, str]]) -> str:
    """The files chosen for upload, each (name, state, why it was skipped) with its state in Chinese; "" for none."""
    e = html.escape
    rows = "".join(
        f"<li class='qa-upload qa-upload-{e(state)}'><span class='qa-upload-name'>{e(name)}</span>"
        f"<span class='qa-upload-state'>{UPLOAD_STATES.get(state, e(state))}"
        f"{e('：' + in_chinese(reason)) if reason else ''}</span></li>"
        for name, state, reason in files)
    return f"<ul class='qa-uploads' aria-label='添加的文件'>{rows}</ul>" if files else ""


CONVERTING_AFTER_SECONDS = 5


def render_warming(state: WarmUp | None) -> str:
    """The banner while the index is built or the model loads at start; "" once ready; the error if it failed."""
    if state is None or not state.pending:
        return render_message("error", state.error) if state and state.error else ""
    if state.stage == "model":
        step = MODEL_STEPS.get(state.model_step, "模型")
        elapsed = max(0, int(time.monotonic() - state.since))
        # A cached model loads in about a second; a step that takes longer is the first start's conversion.
        why = "（首次启动需要转换模型，约一两分钟）" if elapsed >= CONVERTING_AFTER_SECONDS else ""
        return render_progress(None, f"正在准备模型{why}…{step}，已用 {elapsed} 秒。准备好后会建立索引，页面会自动更新。")
    if state.stage == "load":
        return render_progress(1.0, "索引已就绪，正在加载模型…请稍候，页面会自动更新。")
    share = build_share(state.build_stage, state.done, state.total)
    stage = STAGES.get(state.build_stage, "准备")
    return render_progress(share, f"正在建立索引…{stage} {share:.0%}。建好之前还不能提问，页面会自动更新。")


def _when(iso: str) -> str:
    """An ISO timestamp as HTML: a <time> to the minute, which the page shows in the reader's local time (times.js);
    as given if it is not a timestamp with its time zone."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return html.escape(iso)
    shown = html.escape(moment.strftime("%Y-%m-%d %H:%M %Z").strip())
    return f"<time datetime='{html.escape(moment.isoformat())}'>{shown}</time>" if moment.tzinfo else shown


def _size(n: int) -> str:
    """A size in bytes as KB or MB."""
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.0f} KB"

