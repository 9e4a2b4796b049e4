"""The service: a data folder and an index folder, kept in step, answering questions."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.index import sync
from qa.embed.base import Embedder, model_name
from qa.embed.device import embedding_device
from qa.embed.factory import make_embedder
from qa.core.errors import AnswerFailed, IndexWriteError, NotReadyError, QAError
from qa.read.folder import SUPPORTED_SUFFIXES, parse_bytes_bounded
from qa.answer.search import Hit, Result, search
from qa.core.settings import MAX_QUESTION_CHARS, MAX_TOP_K, Settings, set_native_defaults
from qa.index.base import Collection, DocumentInfo, StoredPassage
from qa.index.factory import open_store
from qa.core.text import has_words, trim_span

log = logging.getLogger("qa")

REMOVED_FOLDER = "removed"  # under the index folder: documents removed through the service, kept, not indexed
BUILDING = "正在建立索引，请稍候。/ The index is being built, please wait."
LOADING = "正在加载模型，请稍候。/ The model is loading, please wait."


@dataclass
class WarmUp:
    """A warm-up running in the background: its stage ("model", "build" or "load"), since when, how far the build
    got, and how it ended."""

    stage: str = "build"
    model_step: str = ""  # while preparing the models: "embedder", then "reader"
    build_stage: str = ""  # the build's stage: "read", "split", "embed" or "write" ("" before the first report)
    done: int = 0
    total: int = 0
    error: str | None = None  # why it failed, when it did
    finished: threading.Event = field(default_factory=threading.Event)
    since: float = field(default_factory=time.monotonic)  # when the stage began (time.monotonic)

    def report(self, stage: str, done: int, total: int) -> None:
        """A build's progress callback."""
        self.build_stage, self.done, self.total = stage, done, total

    def begin(self, stage: str, model_step: str = "") -> None:
        """Enter a stage (or the model stage's next step), timed from now."""
        self.stage, self.model_step, self.since = stage, model_step, time.monotonic()

    @property
    def pending(self) -> bool:
        """True until the warm-up has finished, well or not."""
        return not self.finished.is_set()


@dataclass
class BuildReport:
    """What `Service.build` did."""

    built: bool
    reason: str
    documents: int = 0
    passages: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # one sentence per file left out, naming it
    full: bool = False  # every document was read again, rather than only the new and changed ones
    read: int = 0  # files read
    removed: int = 0  # documents whose passages left the index (removed or changed)
    embedded: int = 0  # passages embedded; the rest came from the current build or the embedding cache
    lexical: bool = True  # the index has BM25 beside the vectors (False: answered from the vectors alone)


@dataclass
class CollectionInfo:
    """What the service holds: the indexed documents, the model, the size of the index."""

    documents: list[DocumentInfo]
    model: str
    passages: int
    index_bytes: int
    built: str
    lexical: bool = True  # BM25 beside the vectors; False on a Milvus server without full-text search


class Service:
    """Question answering over `data_dir`, with the index persisted in `index_dir`.

    `settings` (default: `Settings()`, whatever the environment says; programs pass `Settings.from_env()`) choose the model, backend and store; `model`
    and `store` override theirs. `store="milvus:PATH.db"` or `"milvus://HOST:PORT"` keeps the index in Milvus.
    """

    def __init__(self, data_dir: str | Path = "data", index_dir: str | Path = "index",
                 embedder: Embedder | None = None, model: str | None = None, store: str | None = None,
                 settings: Settings | None = None):
        set_native_defaults()  # before the store loads faiss and the embedder or the reader onnxruntime
        settings = settings or Settings()
        self.settings = replace(settings, model=model or settings.model, store=store or settings.store)
        if embedder is None and self.settings.device == "cuda":
            embedding_device(self.settings)  # no GPU: say so now, not when the first passage is embedded
        self.data_dir = Path(data_dir)
        self.index_dir = Path(index_dir)
        self.store = open_store(self.settings.store, self.index_dir, self.settings.index_memory_bytes)
        self._embedder = embedder
        self._reader = None
        self.model = embedder.name if embedder else model_name(self.settings.model, self.settings.backend,
                                                               self.settings.passage_prompt)
        self._index: Collection | None = None
        self.stale: str | None = None  # why the index could not be brought up to date, while it answers as it is
        self._lock = threading.Lock()  # one build at a time in this process
        self._load_lock = threading.Lock()  # separate, so questions go on from the old index during a build
        self.warming: WarmUp | None = None  # set by warm_up_in_background

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            log.info("Loading embedding model %s", self.model)
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def reader(self):
        """The reader (qa.answer.reader), built on first use; None when the settings turn it off."""
        if self.settings.reader and self._reader is None:
            from qa.answer.reader.read import Reader
            from qa.embed.convert import default_model_path

            log.info("Loading the reader")
            self._reader = Reader(default_model_path(self.settings.model_cache))
        return self._reader if self.settings.reader else None

    def stale_reason(self) -> str | None:
        """Why the index must be built, or None when it matches the data and the model."""
        plan = sync.plan(self.data_dir, self.store, self.model, max_bytes=self.settings.read_limits.max_bytes,
                         index_dir=self.index_dir)
        return plan.reason if plan else None

    def build(self, force: bool = False, progress: sync.Progress | None = None) -> BuildReport:
        """Bring the index in step with the data folder: only new, changed and removed documents cost work.

        A different model, index format or reading rules (or `force`) means a full rebuild, with the reason logged.
        `progress(stage, done, total)` hears how far it got (stages "read", "split", "embed", "write"; first "wait"
        when another build, in this process or another, must finish first).
        """
        limits = self.settings.read_limits
        waiting = (lambda: progress("wait", 0, 1)) if progress else None
        with self._turn(waiting):
            if sync.plan(self.data_dir, self.store, self.model, force, limits.max_bytes, self.index_dir) is None:
                return BuildReport(built=False, reason="the index is up to date")
            with sync.build_lock(self.index_dir, waiting):
                started = time.perf_counter()
                # another process may have built meanwhile
                plan = sync.plan(self.data_dir, self.store, self.model, force, limits.max_bytes, self.index_dir)
                if plan is None:
                    return BuildReport(built=False, reason="the index is up to date")
                log.info("%s the index: %s.", "Rebuilding" if plan.full else "Updating", plan.reason)
                cache = self.index_dir / sync.CACHE_FILE
                done = sync.execute(plan, self.data_dir, self.store, cache, self.embedder, limits, progress)
                self._index, self.stale = None, None
                return BuildReport(built=True, reason=plan.reason, documents=done.documents, passages=done.passages,
                                   seconds=time.perf_counter() - started, warnings=[str(file) for file in done.skipped], full=plan.full,
                                   read=len(plan.read), removed=len(plan.removed), embedded=done.embedded,
                                   lexical=done.lexical)

    @contextmanager
    def _turn(self, on_wait: Callable[[], None] | None) -> Iterator[None]:
        """This process's one build at a time; `on_wait()` hears when this one must wait for another."""
        if not self._lock.acquire(blocking=False):
            if on_wait:
                on_wait()
            self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()

    def open(self, progress: sync.Progress | None = None) -> Collection:
        """The current index, built first if missing or stale (not a shared store's); reloaded once another process
        (`qa index`) built anew. When an update cannot be written, the current index answers and `stale` says why."""
        if self._index is None and not self.store.shared:
            try:
                self.build(progress=progress)
            except IndexWriteError as e:
                if self.store.read_manifest() is None:
                    raise
                self.stale = str(e)
                log.warning("%s Answering from the index as it is, which may be out of date.", e)
        with self._load_lock:
            current = self.store.read_manifest()
            if self._index is None or (current is not None and current != self._index.manifest):
                # The old collection is not closed: a question may still be reading it on another thread.
                self._index = self.store.open()
        return self._index

    def warm_up(self, state: WarmUp | None = None) -> None:
        """Prepare the models, open the index and load the models now, so the first question is answered at full
        speed.

        `state`, if given, hears the stages: "model" (on a fresh machine the models are converted first, about a
        minute or two), "build" with the build's progress, then "load".
        """
        if state:
            state.begin("model", "embedder")
        self.embedder  # noqa: B018 - made now, not inside the build
        if state:
            state.begin("model", "reader")
        self.reader  # noqa: B018
        if state:
            state.begin("build")
        self.open(progress=state.report if state else None)
        if state:
            state.begin("load")
        self.embedder.embed(["warm up"], "query")
        if self.reader is not None:
            self.reader.read("warm up", ["warm up"], [(0, 7)])

    def preflight(self) -> None:
        """Raise now what would stop a warm-up at once: a missing data folder, a damaged index manifest."""
        if not self.store.shared and not self.data_dir.is_dir():
            sync.scan(self.data_dir)  # says what is wrong and what to do
        self.store.read_manifest()

    def warm_up_in_background(self) -> WarmUp:
        """Start `warm_up` in a thread; until it ends, questions and listings raise NotReadyError (in Chinese first)."""
        state = self.warming = WarmUp(stage="model")

        def run() -> None:
            try:
                self.warm_up(state)
            except QAError as e:
                state.error = str(e)
                log.error("%s", e)
            except Exception as e:  # keep serving: the page and the JSON endpoint say why nothing can be asked
                state.error = f"无法建立索引。/ The index could not be built ({type(e).__name__}: {e})."
                log.exception("The warm-up failed")
            finally:
                state.finished.set()

        threading.Thread(target=run, name="qa-warm-up", daemon=True).start()
        return state

    def check_ready(self) -> None:
        """Raise NotReadyError while a background warm-up runs (after a failed one, the next call tries again)."""
        state = self.warming
        if state is not None and state.pending:
            raise NotReadyError(BUILDING if state.stage == "build" else LOADING)

    def ask(self, question: str, top_k: int = 5, documents: list[str] | None = None) -> list[Hit]:
        """The passages that best answer `question`, best first, each with its answer span."""
        return self.answer(question, top_k, documents).hits

    def answer(self, question: str, top_k: int = 5, documents: list[str] | None = None) -> Result:
        """The hits for `question` and whether any of them seems to answer it; only from `documents`, if given
        (none or an empty list: every document, as on the page).

        A question without words (punctuation, an emoji) is not searched: no hits, not confident.
        """
        question = clean_question(question)
        documents = documents or None
        self.check_ready()
        if not 1 <= top_k <= MAX_TOP_K:
            raise QAError(f"top_k 必须在 1 到 {MAX_TOP_K} 之间。/ top_k must be between 1 and {MAX_TOP_K}.")
        if not has_words(question):
            return Result(question, False, [])
        index = self.open()
        if documents is not None:
            known = {d.document for d in index.documents()}
            unknown = [d for d in documents if d not in known]
            if unknown:
                raise QAError(f"资料库中没有这些文档：{'、'.join(unknown)}。/ Not in the collection: {', '.join(unknown)}.")
        try:
            query = self.embedder.embed([question], "query")[0]
            return search(index, question, query, top_k, documents, reader=self.reader)
        except QAError:
            raise
        except Exception as e:  # the model or the store failed on this question: say so, keep serving
            log.exception("Could not answer %r", question)
            raise AnswerFailed(f"无法回答这个问题。/ The question could not be answered ({type(e).__name__}: {e}).") from e

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents with their passage counts."""
        self.check_ready()
        return self.open().documents()

    def neighbours(self, document: str, position: int, radius: int = 1) -> list[StoredPassage]:
        """The passages up to `radius` before and after passage `position` of `document`, in order."""
        self.check_ready()
        return self.open().around(document, position, radius)

    def document(self, document: str) -> list[StoredPassage]:
        """Every passage of an indexed document, in order: its text as the index holds it."""
        self.check_ready()
        passages = self.open().document_passages(document)
        if not passages:
            raise QAError(f"资料库中没有文档 {document}。/ {document} is not in the collection.")
        return passages

    def remove_document(self, document: str, progress: sync.Progress | None = None) -> BuildReport:
        """Take an indexed document out of the data folder and the index; the file is kept in index/removed/."""
        self.check_ready()
        documents = {d.document for d in self.open().documents()}
        if document not in documents:
            raise QAError(f"资料库中没有文档 {document}。/ {document} is not in the collection.")
        if len(documents) == 1:
            raise QAError(f"{document} 是资料库中最后一篇文档，请先添加其他文档再移除。/ {document} is the last document "
                          "of the collection; add another one before removing it.")
        path = self.data_dir / document  # not resolved: a link is removed itself, never the file it points to
        if not path.parent.resolve().is_relative_to(self.data_dir.resolve()):
            raise QAError(f"{document} is not a file of the data folder.")
        if path.is_file() or path.is_symlink():
            kept = self.index_dir / REMOVED_FOLDER / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
            kept.mkdir(parents=True)
            shutil.move(path, kept / path.name)
        return self.build(progress=progress)

    def info(self) -> CollectionInfo:
        """The indexed documents, the model and the index size on disk."""
        self.check_ready()
        index = self.open()
        return CollectionInfo(index.documents(), index.manifest.model, index.manifest.passages,
                              index.size_bytes(), index.manifest.created, index.has_lexical)

    def close(self) -> None:
        """Release the open index and the store's connections."""
        with self._load_lock:
            if self._index is not None:
                self._index.close()
                self._index = None
        self.store.close()

    def add_document(self, filename: str, data: bytes, progress: sync.Progress | None = None) -> BuildReport:
        """Save an uploaded file into the data folder, never over an existing one, and index it."""
        self.check_ready()
        name = upload_name(filename)
        limit = self.settings.max_upload_mb
        if len(data) > limit << 20:
            raise QAError(f"{name} 超过 {limit} MB，无法添加。/ {name} is larger than {limit} MB (QA_MAX_UPLOAD_MB).")
        if self.data_dir.is_dir() and name in {unicodedata.normalize("NFC", p.name) for p in self.data_dir.iterdir()}:
            raise QAError(f"资料库中已有同名文档 {name}，请改名后再添加。/ A document named {name} already exists.")
        if not parse_bytes_bounded(data, name, self.settings.read_limits).paragraphs:
            raise QAError(f"{name} 中没有可检索的正文。/ {name} has no body text to index.")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Written under a hidden name (ignored by builds), then linked into place: link never overwrites.
        partial = self.data_dir / f".upload-{uuid.uuid4().hex}"
        partial.write_bytes(data)
        try:
            os.link(partial, self.data_dir / name)
        except FileExistsError:
            raise QAError(f"资料库中已有同名文档 {name}，请改名后再添加。/ A document named {name} already exists.") from None
        finally:
            partial.unlink()
        return self.build(progress=progress)


def upload_name(filename: str) -> str:
    """A safe file name for an upload (NFC): one plain name with a supported suffix, else a QAError."""
    name = unicodedata.normalize("NFC", (filename or "").strip())
    plain = name and not name.startswith(".") and ".." not in name and not any(c in name for c in "/\\:")
    if not plain or not name.isprintable() or len(name.encode("utf-8", "replace")) > 255:
        raise QAError(f"文件名 {filename!r} 无效。/ {filename!r} is not a plain file name.")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise QAError(f"无法添加 {name}：只支持以下文件类型：{kinds}。/ {name}: only {kinds} files can be added.")
    return name


# Letters that print as nothing (Hangul fillers): with format characters (zero-width spaces, joiners, marks), they
# are left out of a question, so a question of them alone is empty.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0")


def clean_question(question: str) -> str:
    """A question as text: lone surrogates, control and invisible characters gone, spaces trimmed, bounded; empty is
    an error."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in (question or "")
                   if unicodedata.category(ch) not in ("Cs", "Cf") and ch not in _INVISIBLE)
    start, end = trim_span(text, 0, len(text))
    if start == end:
        raise QAError("请输入问题。/ Please type a question.")
    return unicodedata.normalize("NFC", text[start:end])[:MAX_QUESTION_CHARS]
