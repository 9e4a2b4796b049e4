"""The service: a data folder and an index folder, kept in step, answering questions."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.chunking import split_passages
from qa.embedding import Embedder, configured_model, embedder_from_env, model_name
from qa.errors import QAError
from qa.index import FORMAT_VERSION, DocumentInfo, LoadedIndex, StoredPassage, load_index, read_manifest, write_build
from qa.ingest import SUPPORTED_SUFFIXES, decode_bytes, load_documents, parse_document
from qa.search import Hit, dense_search, to_hits

log = logging.getLogger("qa")

# Bump when ingestion or chunking rules change, so existing indexes are rebuilt.
PIPELINE_VERSION = 1
MAX_QUESTION_CHARS = 2000  # far beyond the model's 512-token window; longer questions are cut here
EMBED_BATCH = 64
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


@dataclass
class CollectionInfo:
    """What the service holds: the indexed documents, the model, the size of the index."""

    documents: list[DocumentInfo]
    model: str
    passages: int
    index_bytes: int
    built: str


def data_files(data_dir: Path) -> list[Path]:
    """Documents the service reads: supported suffixes, recursive, hidden files skipped."""
    return sorted(
        p for p in Path(data_dir).rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(data_dir).parts)
    )


def fingerprint(data_dir: Path) -> str:
    """Hash of every document's path and bytes, and of the pipeline version."""
    h = hashlib.sha256(f"pipeline={PIPELINE_VERSION}".encode())
    for path in data_files(data_dir):
        h.update(path.relative_to(data_dir).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class Service:
    """Question answering over `data_dir`, with the index persisted in `index_dir`."""

    def __init__(self, data_dir: str | Path = "data", index_dir: str | Path = "index",
                 embedder: Embedder | None = None, model: str | None = None):
        self.data_dir = Path(data_dir)
        self.index_dir = Path(index_dir)
        self._embedder = embedder
        self.model = embedder.name if embedder else model_name(configured_model(model))
        self._model_arg = model
        self._index: LoadedIndex | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            log.info("Loading embedding model %s", self.model)
            self._embedder = embedder_from_env(self._model_arg)
        return self._embedder

    def stale_reason(self) -> str | None:
        """Why the index must be built, or None when it matches the data and the model."""
        if not self.data_dir.is_dir():
            raise QAError(f"The data folder {self.data_dir} does not exist: create it and put .txt or .md documents in it.")
        manifest = read_manifest(self.index_dir)
        if manifest is None:
            return "there is no index yet"
        if manifest.format_version != FORMAT_VERSION:
            return f"the index format changed ({manifest.format_version} -> {FORMAT_VERSION})"
        if manifest.model != self.model:
            return f"the index was built with model {manifest.model}, the service now uses {self.model}"
        if manifest.fingerprint != fingerprint(self.data_dir):
            return "the documents changed"
        return None

    def build(self, force: bool = False, progress: bool = False) -> BuildReport:
        """Rebuild the index if the data or model changed (or always, with `force`)."""
        with self._lock:
            reason = "a rebuild was requested" if force else self.stale_reason()
            if reason is None:
                return BuildReport(built=False, reason="the index is up to date")
            log.info("Building the index: %s.", reason)
            started = time.perf_counter()
            stamp = fingerprint(self.data_dir)
            documents, warnings = load_documents(self.data_dir)
            for w in warnings:
                log.warning(w)
            if not documents:
                raise QAError(f"No readable documents in {self.data_dir}: put .txt or .md files there.")
            passages = [p for doc in documents for p in split_passages(doc)]
            vectors = self._embed_passages([p.text for p in passages], progress)
            write_build(
                self.index_dir,
                {"model": self.model, "dim": self.embedder.dim, "fingerprint": stamp},
                documents, passages, vectors, {},
            )
            self._index = None
            return BuildReport(True, reason, len(documents), len(passages), time.perf_counter() - started, warnings)

    def _embed_passages(self, texts: list[str], progress: bool) -> np.ndarray:
        from tqdm import tqdm

        batches = range(0, len(texts), EMBED_BATCH)
        parts = [
            self.embedder.embed(texts[i : i + EMBED_BATCH], "passage")
            for i in tqdm(batches, desc="Embedding passages", unit="batch", disable=not progress)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.embedder.dim), dtype=np.float32)

    def open(self) -> LoadedIndex:
        """The current index, built first if missing or stale."""
        if self._index is None:
            self.build()
            with self._lock:
                if self._index is None:
                    self._index = load_index(self.index_dir)
        return self._index

    def ask(self, question: str, top_k: int = 5) -> list[Hit]:
        """The passages that best answer `question`, best first."""
        question = clean_question(question)
        if not 1 <= top_k <= 100:
            raise QAError("top_k must be between 1 and 100.")
        index = self.open()
        query = self.embedder.embed([question], "query")[0]
        return to_hits(index, dense_search(index, query, top_k))

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents with their passage counts."""
        return self.open().passages.documents()

    def neighbours(self, document: str, position: int, radius: int = 1) -> list[StoredPassage]:
        """The passages up to `radius` before and after passage `position` of `document`, in order."""
        return self.open().passages.around(document, position, radius)

    def info(self) -> CollectionInfo:
        """The indexed documents, the model and the index size on disk."""
        index = self.open()
        size = sum(f.stat().st_size for f in index.folder.iterdir() if f.is_file())
        return CollectionInfo(index.passages.documents(), index.manifest.model, index.manifest.passages,
                              size, index.manifest.created)

    def add_document(self, filename: str, data: bytes) -> BuildReport:
        """Save an uploaded file into the data folder, never over an existing one, and index it."""
        name = upload_name(filename)
        if len(data) > MAX_UPLOAD_BYTES:
            raise QAError(f"{name} is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB. / 文件过大。")
        if not parse_document(decode_bytes(data, name), name).paragraphs:
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
        raise QAError(f"{name}: only {', '.join(SUPPORTED_SUFFIXES)} files can be added. / 只支持 .txt 和 .md 文件。")
    return name


def clean_question(question: str) -> str:
    """Strip and bound a question; an empty one is a user error."""
    question = (question or "").strip()
    if not question:
        raise QAError("Please type a question. / 请输入问题。")
    return question[:MAX_QUESTION_CHARS]
