"""The page's event handlers, one module-level function each: the service and the inputs come in as arguments.

The page binds the service (`bind`) and wires each handler to its components; a test calls one with a service alone.
A handler with several outputs returns them as a tuple in the order of the outputs it is wired to, as Gradio takes them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from qa.answer.search import Result
from qa.core.errors import QAError
from qa.core.text import has_words
from qa.service import BUILDING, LOADING, Service
from qa.surfaces.page.render import (
    STAGES,
    build_share,
    document_choices,
    question_notes,
    render_collection,
    render_document,
    render_hits,
    render_message,
    render_progress,
    render_summary,
    render_uploads,
    render_waiting,
    render_warming,
)

log = logging.getLogger("qa")

RECENT_QUESTIONS = 8  # kept in the reader's own browser (localStorage), never on the server
NO_DOCUMENT_CHOSEN = "请先选择要移除的文档。"


def bind(handler: Callable, service: Service) -> partial:
    """`handler` with `service` as its first argument, under the handler's name (Gradio names endpoints and the
    results' server functions after it). Gradio cannot see a partial's type hints, so no bound handler takes a
    gr.Request."""
    bound = partial(handler, service)
    bound.__name__ = handler.__name__
    return bound


def answer(service: Service, question: str, top_k: int, documents: list[str] | None = None) -> Result:
    """The service's result (from `documents` only, if any); one it cannot give has the reason in `error`."""
    try:
        return service.answer(question, whole_top_k(top_k), document_names(documents))
    except QAError as e:
        return Result(question, None, [], str(e))


def whole_top_k(value: object) -> int:
    """`top_k` as the endpoint `/ask` got it: a whole number (the slider sends 5.0), not NaN, a string or a bool."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise QAError(f"top_k 必须是整数。/ top_k must be a whole number, not {value!r}.")


def document_names(value: object) -> list[str] | None:
    """`documents` as the endpoint `/ask` got it: a list of names, or None or [] for every document."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise QAError(f"documents 必须是文档名的列表。/ documents must be a list of document names, not {value!r}.")
    return value


def ask(service: Service, question: str, top_k: int, documents: list[str] | None = None) -> dict:
    """The page's question handler and the endpoint `/ask`: the result in the JSON form of `qa ask --json`."""
    return answer(service, question, top_k, documents).as_json()


def show(data: dict | None, question: str, documents: list[str] | None) -> str:
    """The results' HTML for an answer in its JSON form, after what the reader should know about the question; a
    question asked before the collection is ready says it will be answered then (ask_when_ready)."""
    if not_ready(data):
        return render_waiting(data["error"])
    return render_hits(Result.from_json(data) if data else None, question_notes(question, documents))


def not_ready(data: dict | None) -> bool:
    """Whether an answer in its JSON form is the refusal of a service still building its index or loading its model."""
    return bool(data) and data.get("error") in (BUILDING, LOADING)


def answer_when_ready(service: Service, data: dict | None, question: str, top_k: int, documents: list[str] | None,
                      recent: list | None) -> tuple:
    """A question refused because the warm-up had not finished, asked again once it has: the results, and the recent
    questions as keep gives them. Nothing for any other answer, or when the question box has moved on meanwhile."""
    if not not_ready(data) or service.warming is None:
        return gr.skip(), gr.skip(), gr.skip()
    service.warming.finished.wait()
    if " ".join((question or "").split()) != " ".join(data["question"].split()):
        return gr.skip(), gr.skip(), gr.skip()
    again = ask(service, question, top_k, documents)
    return (show(again, question, documents), *keep(question, recent, again))


def from_url(question: str, request: gr.Request) -> tuple[str, str]:
    """The question in the page's address (`?q=`) for the question box, unless something was typed there already;
    and that question, kept for ask_if_any ("" if none)."""
    asked = (request.query_params.get("q") or "").strip() if request else ""
    return (asked if asked and not (question or "").strip() else gr.skip()), asked


def ask_if_any(service: Service, question: str, top_k: int, documents: list[str] | None, asked: str) -> dict:
    """Ask the question from the page's address once from_url has put it in the question box; nothing otherwise."""
    return ask(service, question, top_k, documents) if asked and (question or "").strip() == asked else gr.skip()


def remember(question: str, recent: list | None) -> list[str]:
    """The recent questions with `question` first (once), at most RECENT_QUESTIONS."""
    question = " ".join((question or "").split())[:200]
    earlier = [q for q in recent or [] if isinstance(q, str) and q != question]
    return ([question] if question else []) + earlier[:RECENT_QUESTIONS - bool(question)]


def recent_list(recent: list | None) -> gr.Dataset:
    """The recent questions as the clickable list under the results, hidden while there are none."""
    return gr.Dataset(samples=[[q] for q in recent or []], visible=bool(recent))


def keep(question: str, recent: list | None, data: dict | None) -> tuple[list[str], gr.Dataset] | tuple:
    """The recent questions with `question` added, for the browser's storage and for the list; unchanged when its
    answer (`data`) is an error or the question has no words to search for."""
    if not data or data.get("error") or not has_words(question or ""):
        return gr.skip(), gr.skip()
    kept = remember(question, recent)
    return kept, recent_list(kept)


def pick_recent(sample: list[str]) -> str:
    """A recent question clicked, for the question box."""
    return sample[0]


def page_state(service: Service, chosen: list[str] | None) -> tuple:
    """The parts of the page that follow the collection, as the warm-up banner, its timer, the summary, the
    collection panel, the documents to search and the document to remove."""
    warming = service.warming
    if warming is not None and warming.pending:
        wait = render_message("empty", "正在建立索引…建好后这里会列出资料库的文档。")
        return (gr.HTML(render_warming(warming), visible=True), gr.Timer(active=True), wait, wait,
                gr.Dropdown(choices=[], value=[]), gr.Dropdown(choices=[], value=None))
    try:
        info = service.info()
    except QAError as e:
        problem = render_message("error", str(e))
        return (gr.HTML(render_warming(warming), visible=bool(warming and warming.error)), gr.Timer(active=False),
                problem, problem, gr.Dropdown(choices=[], value=[]), gr.Dropdown(choices=[], value=None))
    choices = document_choices(info.documents)
    names = {path for _, path in choices}
    return (gr.HTML("", visible=False), gr.Timer(active=False), render_summary(info), render_collection(info),
            gr.Dropdown(choices=choices, value=[c for c in chosen or [] if c in names]),
            gr.Dropdown(choices=choices, value=None))


def add_file(service: Service, path: str, progress: Callable | None = None) -> None:
    """Add one uploaded file, with `progress(stage, done, total)` hearing its indexing; a QAError says why not."""
    name = Path(path).name
    limit = service.settings.max_upload_mb
    try:
        too_big = Path(path).stat().st_size > limit << 20  # before reading it into memory
        data = b"" if too_big else Path(path).read_bytes()
    except OSError:  # Gradio removes uploads it has kept for UPLOAD_SECONDS
        raise QAError(f"{name} 已不在服务器上，请重新添加。/ {name} is no longer on the server.") from None
    if too_big:
        raise QAError(f"{name} 超过 {limit} MB，无法添加。/ {name} is larger than {limit} MB.")
    service.add_document(name, data, progress=progress)


def add_files(service: Service, paths: list[str], progress=None) -> str:
    """Add uploaded files one by one; HTML status naming what was added and what was refused and why.

    `progress(share, desc=...)` (e.g. a gr.Progress) hears the file and the stage of its indexing, in Chinese, and
    how far the whole upload is: one share that only grows, to 1 when the last file is indexed.
    """
    added, refused = [], []
    for n, path in enumerate(paths, 1):
        name = Path(path).name

        def report(stage: str, done: int, total: int, name: str = name, n: int = n) -> None:
            if progress is not None:
                share = (n - 1 + build_share(stage, done, total)) / len(paths)
                progress(share, desc=f"（{n}/{len(paths)}）{name}：{STAGES[stage]} {share:.0%}")

        try:
            add_file(service, path, report)
            added.append(name)
        except QAError as e:
            refused.append(str(e))
    return added_message(added) + "".join(render_message("error", line) for line in refused)


def added_message(added: list[str]) -> str:
    """The status naming the files added to the collection; "" for none."""
    return render_message("status", f"已加入资料库：{'、'.join(added)}。现在可以就新文档提问。") if added else ""


@dataclass
class Queued:
    """A file chosen for upload on the page, and where it stands: "waiting", "held" (its build waits for another),
    "reading", "done" or "skipped"."""

    path: str
    state: str = "waiting"
    reason: str = ""  # why it was skipped
    progress: str = ""  # its progress bar's HTML while it is read, shown above the list by every event

    @property
    def name(self) -> str:
        return Path(self.path).name


def enqueue(queue: list[Queued], paths: list[str] | None) -> str:
    """Add the files just chosen to the page's upload queue (the last batch's rows go once all of it is done); the
    queue's HTML. The queue is the page's gr.State, one list shared by the events of a browser session."""
    if not any(file.state in ("waiting", "held", "reading") for file in queue):
        queue.clear()
    queue.extend(Queued(path) for path in paths or [])
    return queue_html(queue)


def queue_html(queue: list[Queued]) -> str:
    """The upload queue's files with their states, as HTML, after the progress of the one being read."""
    bars = "".join(file.progress for file in queue if file.state in ("held", "reading"))
    return bars + render_uploads([(file.name, file.state, file.reason) for file in queue])


def upload(service: Service, queue: list[Queued], chosen: list[str] | None) -> Iterator[tuple]:
    """Index the queue's waiting files one at a time, those chosen meanwhile too, with each file's state and a
    progress bar in the status, then refresh the page's parts: eight outputs, the status, page_state's six and the
    removal's confirmation box (hidden). Nothing changes when no file waits (an earlier call took them)."""
    took = False
    while (file := next((f for f in queue if f.state == "waiting"), None)) is not None:
        took, file.state = True, "reading"
        for done, shown in with_progress(lambda progress: index_queued(service, queue, file, progress)):
            if not done:
                file.progress = shown
                yield (queue_html(queue),) + (gr.skip(),) * 7
    if took:
        added = added_message([file.name for file in queue if file.state == "done"])
        yield (queue_html(queue) + added,) + page_state(service, chosen) + (gr.Column(visible=False),)
    else:  # an explicit "change nothing": a generator that yields nothing clears every output
        yield (gr.skip(),) * 8


def index_queued(service: Service, queue: list[Queued], file: Queued, progress: Callable) -> str:
    """Add one file of the upload queue, marking it done or skipped; `progress(share, desc)` hears how far this
    file is, and which of the queue's files it is.

    The bar is the file's own: a share of the whole queue would move back whenever files are added to it.
    """

    def report(stage: str, done: int, total: int) -> None:
        file.state = "held" if stage == "wait" else "reading"  # waiting for a build of another page or process
        share = build_share(stage, done, total)
        progress(share, desc=f"（{queue.index(file) + 1}/{len(queue)}）{file.name}：{STAGES[stage]} {share:.0%}")

    try:
        add_file(service, file.path, report)
        file.state = "done"
    except QAError as e:
        file.state, file.reason = "skipped", str(e)
    except Exception:  # the rest of the queue still goes in; the log has the details
        log.exception("Could not add %s", file.path)
        file.state, file.reason = "skipped", f"{file.name} 添加时出错，请联系管理员。"
    return ""


def remove_file(service: Service, name: str, progress=None) -> str:
    """Remove one document from the collection (kept under index/removed/); HTML status."""

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            share = build_share(stage, done, total)
            progress(share, desc=f"正在移除 {name}：{STAGES[stage]} {share:.0%}")

    try:
        service.remove_document(name, progress=report)
    except QAError as e:
        return render_message("error", str(e))
    removed = f"已从资料库移除：{name}。它不会再出现在答案中（文件保存在索引目录的 removed/ 下）。"
    return render_message("status", removed)


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


def propose_removal(name: str | None) -> tuple[str, gr.Column, str]:
    """The status, the confirmation box and its warning, for the document chosen to be removed."""
    if not name:
        return render_message("error", NO_DOCUMENT_CHOSEN), gr.Column(visible=False), ""
    warn = (f"确定要移除 {name} 吗？移除后它不会再出现在答案中；文件会移到索引目录的 removed/ 下保存，"
            f"需要时可以再放回资料文件夹。")
    return "", gr.Column(visible=True), render_message("notice", warn)


def hide_confirmation() -> gr.Column:
    """The removal's confirmation box, hidden (its "取消")."""
    return gr.Column(visible=False)


def remove(service: Service, name: str | None, chosen: list[str] | None) -> Iterator[tuple]:
    """Remove the chosen document with a progress bar in the status, then refresh the page's parts (as upload)."""
    if not name:
        yield (render_message("error", NO_DOCUMENT_CHOSEN),) + (gr.skip(),) * 7
        return
    for done, shown in with_progress(lambda progress: remove_file(service, name, progress)):
        if not done:
            yield (shown,) + (gr.skip(),) * 7
    yield (shown,) + page_state(service, chosen) + (gr.Column(visible=False),)


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


def document_html(service: Service, args: list) -> str:
    """The viewer's HTML for [document, position] (the page's file-name buttons), or an error paragraph."""
    try:
        document, position = args
        if not isinstance(document, str) or not isinstance(position, int):
            raise QAError("无法打开这个文档。")
        return render_document(service.document(document), position)
    except QAError as e:
        return render_message("error", str(e))
    except (ValueError, TypeError):
        return render_message("error", "无法打开这个文档。")
