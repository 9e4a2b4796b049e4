"""The index interface: what a build holds, where builds live (a `Store`) and what search asks of one (a `Collection`).

Two stores implement it: FAISS and SQLite in build folders under `index/` (qa.index.faiss_store,
the default) and Milvus (qa.index.milvus_store); qa.index.factory picks one. A build is complete
or absent: readers only ever see a whole build, the old one or the new one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields

import numpy as np

from qa.passages.chunking import Passage
from qa.read.documents import DocumentMeta

FORMAT_VERSION = 6  # 5: clauses carry their answer kinds; 6: every file's checksum covers all of it
META_FIELDS = [f.name for f in fields(DocumentMeta)]  # a document's metadata, as both stores keep it
_SCALARS = {"str": str, "int": int, "bool": bool}  # a manifest field's annotation -> the type its value must have


@dataclass
class BuildSpec:
    """What a build is made from and with: the model and its vector size, the files, the reading rules."""

    model: str
    dim: int
    fingerprint: str  # of every file's path and content hash (qa.index.sync.fingerprint)
    pipeline: int  # the version of the reading and chunking rules the passages were made with


@dataclass
class FileCheck:
    """A build file's size and a checksum of all its bytes."""

    bytes: int
    xxh3_128: str


@dataclass
class Manifest:
    """What an index was built from and with, and what it holds."""

    format_version: int
    model: str
    dim: int
    passages: int
    documents: int
    fingerprint: str
    build: str
    created: str
    pipeline: int = 0
    vector_index: str = "flat"  # the kind of vector index and its parameters (qa.index.ann.IndexChoice.spec)
    files: dict[str, FileCheck] = field(default_factory=dict)  # a folder build's files, checked when opened
    lexical: bool = True  # a BM25 index beside the vectors (False: a Milvus server without full-text search)

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        """A manifest as `asdict` wrote it; TypeError when it is not (a damaged or edited file)."""
        if not isinstance(data, dict) or not isinstance(data.get("files", {}), dict):
            raise TypeError("not a JSON object of the manifest's fields")
        # an older format's file checks are of another form: its index is rebuilt, unread (qa.index.sync.plan)
        old = data.get("format_version") != FORMAT_VERSION
        files = {} if old else {name: FileCheck(**check) for name, check in data.get("files", {}).items()}
        manifest = cls(**{**data, "files": files})
        for f in fields(cls):
            kind = _SCALARS.get(f.type)
            value = getattr(manifest, f.name)
            if kind and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
                raise TypeError(f"{f.name} is {value!r}")
        if manifest.build in ("", ".", "..") or "/" in manifest.build or "\\" in manifest.build:
            raise TypeError(f"build is {manifest.build!r}")
        return manifest

    def spec(self) -> BuildSpec:
        """What this build was made from and with."""
        return BuildSpec(self.model, self.dim, self.fingerprint, self.pipeline)


@dataclass
class DocumentRow:
    """One indexed document as stored: its key, metadata and the sha256 of its file's bytes."""

    document: str
    meta: DocumentMeta
    sha256: str


@dataclass(kw_only=True)
class StoredPassage(Passage):
    """A passage as stored, with its document's metadata."""

    meta: DocumentMeta = field(default_factory=DocumentMeta)


@dataclass
class DocumentInfo:
    """One indexed document as listed in the collection: its key, metadata and number of passages."""

    document: str
    meta: DocumentMeta
    passages: int


@dataclass
class Clauses:
    """Clauses of some passages, ordered by passage id: each one's passage, span in its text, kinds, and vector."""

    passage_ids: np.ndarray  # int64, ascending
    spans: np.ndarray  # int64 rows of (start, end)
    kinds: np.ndarray  # int64: the kinds of answer each clause looks like, a bit mask over qa.core.kinds.KINDS
    vectors: np.ndarray  # one row per clause (float32; float16 as a build stores them)

    @classmethod
    def empty(cls, dim: int) -> "Clauses":
        return cls(np.zeros(0, np.int64), np.zeros((0, 2), np.int64), np.zeros(0, np.int64),
                   np.zeros((0, dim), np.float32))

    @classmethod
    def from_table(cls, table: np.ndarray, vectors: np.ndarray) -> "Clauses":
        """Clauses from rows of (passage id, start, end, kinds) (qa.passages.chunking.clause_table) and their vectors."""
        return cls(table[:, 0], table[:, 1:3], table[:, 3], vectors)

    def table(self) -> np.ndarray:
        """Rows of (passage id, start, end, kinds)."""
        return np.column_stack([self.passage_ids, self.spans, self.kinds]).astype(np.int64).reshape(-1, 4)

    def take(self, rows: np.ndarray) -> "Clauses":
        """These rows, in this order."""
        return Clauses(self.passage_ids[rows], self.spans[rows], self.kinds[rows], self.vectors[rows])

    def __len__(self) -> int:
        return len(self.passage_ids)


@dataclass
class Change:
    """A new build: the current one less the `removed` documents' passages, plus new passages (`full`: from nothing)."""

    full: bool
    spec: BuildSpec
    documents: list[DocumentRow]  # every document of the new build
    removed: list[str]  # documents whose passages leave the current build (ignored when full)
    passages: list[Passage]  # the new passages, with ids not used by the passages kept
    vectors: np.ndarray  # their vectors, in the same order
    clauses: Clauses  # their clauses


class Collection(ABC):
    """One complete build opened for reading: everything `qa.answer.search` and the service ask of a store."""

    manifest: Manifest
    has_lexical = True  # BM25 beside the vectors; False on a Milvus server without full-text search

    @abstractmethod
    def dense(self, query: np.ndarray, k: int, documents: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosines) of the k passages nearest the query vector, best first (only from `documents`, if given)."""

    @abstractmethod
    def lexical(self, question: str, k: int, documents: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores) of up to k passages sharing words with the question, best first (only `documents`')."""

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
    def around(self, document: str, position: int, radius: int) -> list[StoredPassage]:
        """The passages of `document` within `radius` positions of `position`, itself excluded, in order."""

    @abstractmethod
    def document_passages(self, document: str) -> list[StoredPassage]:
        """Every passage of `document`, in order (none for a document not in the index)."""

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

    def damage(self, every_byte: bool = False) -> str:
        """What is wrong with the current build's files ('' when nothing, or when the store cannot tell); with
        `every_byte`, files found whole before are read again too (an update is about to copy from them)."""
        return ""

    @abstractmethod
    def describe(self) -> str:
        """Where the index is, for messages."""

    def close(self) -> None:
        """Release connections and servers the store holds open."""
