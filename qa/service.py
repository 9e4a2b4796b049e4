"""The service: a data folder and an index folder, kept in step, answering questions."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa import sync
from qa.embedding import Embedder, make_embedder, model_name
from qa.errors import QAError
from qa.ingest import SUPPORTED_SUFFIXES, parse_bytes
from qa.search import Hit, Result, search
from qa.settings import MAX_QUESTION_CHARS, MAX_TOP_K, Settings
from qa.stores.base import Collection, DocumentInfo, StoredPassage
from qa.stores.factory import open_store

log = logging.getLogger("qa")

MAX_UPLOAD_BYTES = 5_000_000  # a long article is ~100 kB; this bounds what a page visitor can add


@dataclass
class BuildReport:
    """What `Service.build` did."""

    built: bool
    reason: str
    documents: int = 0
    passages: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    full: bool = False  # every document was read again, rather than only the new and changed ones
    read: int = 0  # files read
    removed: int = 0  # documents whose passages left the index (removed or changed)
    embedded: int = 0  # passages embedded; the rest came from the current build or the embedding cache


@dataclass
class CollectionInfo:
    """What the service holds: the indexed documents, the model, the size of the index."""

    documents: list[DocumentInfo]
    model: str
    passages: int
    index_bytes: int
    built: str


class Service:
    """Question answering over `data_dir`, with the index persisted in `index_dir`.

    `settings` (default: from the QA_* environment variables) choose the model, backend and store; `model`
    and `store` override theirs. `store="milvus:PATH.db"` or `"milvus://HOST:PORT"` keeps the index in Milvus.
    """

    def __init__(self, data_dir: str | Path = "data", index_dir: str | Path = "index",
                 embedder: Embedder | None = None, model: str | None = None, store: str | None = None,
                 settings: Settings | None = None):
        settings = settings or Settings.from_env()
        self.settings = replace(settings, model=model or settings.model, store=store or settings.store)
        self.data_dir = Path(data_dir)
        self.index_dir = Path(index_dir)
        self.store = open_store(self.settings.store, self.index_dir, self.settings.index_memory_bytes)
        self._embedder = embedder
        self.model = embedder.name if embedder else model_name(self.settings.model, self.settings.backend,
                                                               self.settings.passage_prompt)
        self._index: Collection | None = None
        self._lock = threading.Lock()  # one build at a time in this process
        self._load_lock = threading.Lock()  # separate, so questions go on from the old index during a build

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            log.info("Loading embedding model %s", self.model)
            self._embedder = make_embedder(self.settings)
        return self._embedder

    def stale_reason(self) -> str | None:
        """Why the index must be built, or None when it matches the data and the model."""
        plan = sync.plan(self.data_dir, self.store, self.model)
        return plan.reason if plan else None

    def build(self, force: bool = False, progress: bool = False) -> BuildReport:
        """Bring the index in step with the data folder: only new, changed and removed documents cost work.

        A different model, index format or reading rules (or `force`) means a full rebuild, with the reason logged.
        """
        with self._lock:
            if sync.plan(self.data_dir, self.store, self.model, force) is None:
                return BuildReport(built=False, reason="the index is up to date")
            with sync.build_lock(self.index_dir):
                started = time.perf_counter()
                plan = sync.plan(self.data_dir, self.store, self.model, force)  # another process may have built
                if plan is None:
                    return BuildReport(built=False, reason="the index is up to date")
                log.info("%s the index: %s.", "Rebuilding" if plan.full else "Updating", plan.reason)
                cache = self.index_dir / sync.CACHE_FILE
                done = sync.execute(plan, self.data_dir, self.store, cache, self.embedder, progress)
                self._index = None
                return BuildReport(built=True, reason=plan.reason, documents=done.documents, passages=done.passages,
                                   seconds=time.perf_counter() - started, warnings=done.warnings, full=plan.full,
                                   read=len(plan.read), removed=len(plan.removed), embedded=done.embedded)

    def open(self) -> Collection:
        """The current index, built first if missing or stale (not a shared store's); reloaded once another process
        (`qa index`) built anew."""
        if self._index is None and not self.store.shared:
            self.build()
        with self._load_lock:
            current = self.store.read_manifest()
            if self._index is None or (current is not None and current != self._index.manifest):
                # The old collection is not closed: a question may still be reading it on another thread.
                self._index = self.store.open()
        return self._index

    def warm_up(self) -> None:
        """Open the index and load the model now, so the first question is answered at full speed."""
        self.open()
        self.embedder.embed(["warm up"], "query")

    def ask(self, question: str, top_k: int = 5) -> list[Hit]:
        """The passages that best answer `question`, best first, each with its answer span."""
        return self.answer(question, top_k).hits

    def answer(self, question: str, top_k: int = 5) -> Result:
        """The hits for `question` and whether any of them seems to answer it."""
        question = clean_question(question)
        if not 1 <= top_k <= MAX_TOP_K:
            raise QAError(f"top_k must be between 1 and {MAX_TOP_K}.")
        index = self.open()
        query = self.embedder.embed([question], "query")[0]
        return search(index, question, query, top_k)

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents with their passage counts."""
        return self.open().documents()

    def neighbours(self, document: str, position: int, radius: int = 1) -> list[StoredPassage]:
        """The passages up to `radius` before and after passage `position` of `document`, in order."""
        return self.open().around(document, position, radius)

    def info(self) -> CollectionInfo:
        """The indexed documents, the model and the index size on disk."""
        index = self.open()
        return CollectionInfo(index.documents(), index.manifest.model, index.manifest.passages,
                              index.size_bytes(), index.manifest.created)

    def close(self) -> None:
        """Release the open index and the store's connections."""
        with self._load_lock:
            if self._index is not None:
                self._index.close()
                self._index = None
        self.store.close()

    def add_document(self, filename: str, data: bytes) -> BuildReport:
        """Save an uploaded file into the data folder, never over an existing one, and index it."""
        name = upload_name(filename)
        if len(data) > MAX_UPLOAD_BYTES:
            raise QAError(f"{name} is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB. / 文件过大。")
        if not parse_bytes(data, name).paragraphs:
            raise QAError(f"{name} has no body text to index. / 文件中没有可检索的正文。")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Written under a hidden name (ignored by builds), then linked into place: link never overwrites.
        partial = self.data_dir / f".upload-{uuid.uuid4().hex}"
        partial.write_bytes(data)
        try:
            os.link(partial, self.data_dir / name)
        except FileExistsError:
            raise QAError(f"A document named {name} already exists; rename the file. / 已有同名文档。") from None
        finally:
            partial.unlink()
        return self.build()


def upload_name(filename: str) -> str:
    """A safe file name for an upload: one plain name with a supported suffix, else a QAError."""
    name = (filename or "").strip()
    plain = name and not name.startswith(".") and ".." not in name and not any(c in name for c in "/\\:")
    if not plain or not name.isprintable() or len(name.encode()) > 255:
        raise QAError(f"{filename!r} is not a plain file name. / 文件名无效。")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise QAError(f"{name}: only {kinds} files can be added. / 只支持以下文件类型：{kinds}。")
    return name


def clean_question(question: str) -> str:
    """Strip and bound a question; an empty one is a user error."""
    question = (question or "").strip()
    if not question:
        raise QAError("Please type a question. / 请输入问题。")
    return question[:MAX_QUESTION_CHARS]
