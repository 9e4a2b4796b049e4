"""The index: what a build holds, where builds live (a `Store`) and what search asks of one (a `Collection`).

Two stores implement it: FAISS and SQLite in build folders under `index/` (qa.faiss_index, the
default) and Milvus (qa.milvus_index). A build is complete or absent: readers only ever see a
whole build, the old one or the new one.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.answer import clause_spans
from qa.errors import QAError

FORMAT_VERSION = 4
DEFAULT_STORE = "faiss"


@dataclass
class Manifest:
    """What an index was built from and with."""

    format_version: int
    model: str
    dim: int
    passages: int
    documents: int
    fingerprint: str
    build: str
    created: str
    pipeline: int = 0  # the ingestion and chunking rules the passages were made with
    vector_index: str = "flat"  # the kind of vector index and its parameters (qa.ann.IndexChoice.spec)


@dataclass
class DocumentRow:
    """One indexed document as stored: its metadata and the sha256 of its file's bytes."""

    path: str
    title: str
    source: str
    author: str
    editor: str
    date: str
    sha256: str


@dataclass
class PassageRow:
    """One indexed passage as stored; `id` is its id in the vector index, stable while its document is unchanged."""

    id: int
    doc: str
    position: int
    text: str
    start: int
    end: int
    heading: str
    page: int | None


@dataclass
class StoredPassage:
    """A passage as stored, with its document's metadata."""

    id: int
    doc: str
    position: int
    text: str
    start: int
    end: int
    heading: str
    title: str
    source: str
    author: str
    date: str
    page: int | None


@dataclass
class DocumentInfo:
    """One indexed document as listed in the collection."""

    path: str
    title: str
    source: str
    author: str
    date: str
    passages: int


@dataclass
class Clauses:
    """Clauses of some passages, ordered by passage id: each one's passage, span in its text, and vector."""

    passage_ids: np.ndarray  # int64, ascending
    spans: np.ndarray  # int64 rows of (start, end)
    vectors: np.ndarray  # one row per clause (float32; float16 as a build stores them)

    @classmethod
    def empty(cls, dim: int) -> "Clauses":
        return cls(np.zeros(0, np.int64), np.zeros((0, 2), np.int64), np.zeros((0, dim), np.float32))


def clause_table(passages: list[tuple[int, str]]) -> np.ndarray:
    """(passage id, start, end) of every clause of every (passage id, text), in passage-id order."""
    rows = [(pid, s, e) for pid, text in sorted(passages) for s, e in clause_spans(text)]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


@dataclass
class Change:
    """A new build: the current one less the `removed` documents' passages, plus new passages (`full`: from nothing)."""

    full: bool
    manifest: dict  # what the manifest records besides counts and build id: model, dim, fingerprint, pipeline
    documents: list[DocumentRow]  # every document of the new build
    removed: list[str]  # documents whose passages leave the current build (ignored when full)
    passages: list[PassageRow]  # the new passages, with ids not used by the passages kept
    vectors: np.ndarray  # their vectors, in the same order
    clauses: Clauses  # their clauses


class Collection(ABC):
    """One complete build opened for reading: everything `qa.search` and the service ask of a store."""

    manifest: Manifest

    @abstractmethod
    def dense(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosines) of the k passages nearest the query vector, best first."""

    @abstractmethod
    def lexical(self, question: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores) of up to k passages sharing words with the question, best first."""

    @abstractmethod
    def cosines(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The cosine of the query vector with each of these passages' vectors."""

    @abstractmethod
    def clauses(self, ids: np.ndarray) -> Clauses:
        """The clauses of these passages, with their vectors."""

    @abstractmethod
    def word_weights(self, question: str) -> dict[str, float]:
        """The question's words that occur in the collection, with their rarity (a weight > 0)."""

    @abstractmethod
    def passages(self, ids: list[int]) -> dict[int, StoredPassage]:
        """Passages by id, with their document metadata."""

    @abstractmethod
    def around(self, doc: str, position: int, radius: int) -> list[StoredPassage]:
        """The passages of `doc` within `radius` positions of `position`, itself excluded, in order."""

    @abstractmethod
    def documents(self) -> list[DocumentInfo]:
        """Every indexed document with its passage count, by path."""

    @abstractmethod
    def size_bytes(self) -> int:
        """What the build takes on disk (or in the server)."""

    def close(self) -> None:
        """Release what the collection holds open."""


class Store(ABC):
    """Where builds live: the current build's manifest and documents, making a new build, opening the current one."""

    shared = False  # True: many services read it (a Milvus server); only `qa index` builds it, never a service

    @abstractmethod
    def read_manifest(self) -> Manifest | None:
        """The current build's manifest, or None if there is no index yet."""

    @abstractmethod
    def document_rows(self) -> list[DocumentRow]:
        """The current build's documents with their content hashes."""

    @abstractmethod
    def next_id(self) -> int:
        """A passage id above every id in the current build."""

    @abstractmethod
    def commit(self, change: Change) -> Manifest:
        """Write the new build and make it current, all or nothing."""

    @abstractmethod
    def open(self) -> Collection:
        """The current build, checked against its manifest."""

    @abstractmethod
    def describe(self) -> str:
        """Where the index is, for messages."""


def open_store(setting: str | None, index_dir: str | Path) -> Store:
    """The store `setting` (else $QA_STORE) names: "faiss", "milvus:PATH.db" (Milvus Lite) or "milvus://HOST:PORT"."""
    setting = (setting or os.environ.get("QA_STORE") or DEFAULT_STORE).strip()
    if setting == "faiss":
        from qa.faiss_index import FolderStore

        return FolderStore(Path(index_dir))
    if setting.startswith("milvus:"):
        from qa.milvus_index import milvus_store

        return milvus_store(setting.removeprefix("milvus:"), Path(index_dir))
    raise QAError(f"Unknown store {setting!r}: use faiss, milvus:PATH.db (Milvus Lite) or milvus://HOST:PORT.")
