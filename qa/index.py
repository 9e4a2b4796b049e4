"""The persisted index: FAISS vectors, passage texts and metadata in SQLite, and a manifest.

Layout of the index folder:

    manifest.json           written last, atomically; names the current build
    <build>/vectors.faiss   inner product over normalized vectors, ids = passage ids
    <build>/passages.sqlite documents (with content hashes) and passages
    <build>/clauses.faiss   one vector per clause of every passage, ids = rows of clauses.npy
    <build>/clauses.npy     (passage id, start, end) of each clause within its passage's text
    <build>/lexical/        BM25 over the passages' words (qa.lexical)
    embeddings.sqlite       passage vectors cached across builds (qa.cache)

A new build goes into a new folder and becomes current when the manifest is
swapped in by rename, so a reader always sees a complete build, old or new.
An update derives the new build from a copy of the current one; the current
build's files are never changed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict, astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from qa.answer import answer_types, clause_spans
from qa.errors import QAError
from qa.lexical import LexicalIndex

FORMAT_VERSION = 3
MANIFEST = "manifest.json"


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


class VectorStore(ABC):
    """A small vector index interface: ids are int64 passage ids."""

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row; missing slots have id -1."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of vectors held."""


class FaissStore(VectorStore):
    """Exact inner-product search with FAISS."""

    def __init__(self, dim: int, index=None):
        import faiss

        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._sorted = None
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, len(self)))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def remove(self, ids: list[int]) -> None:
        """Drop the vectors with these ids."""
        if ids:
            self._sorted = None
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def ids(self) -> np.ndarray:
        """The ids held, in storage order."""
        import faiss

        return faiss.vector_to_array(self.index.id_map)

    def all_scores(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids ascending, inner product of the query with each of their vectors): exact, every vector."""
        if self._sorted is None:  # a copy of the vectors in id order, made once: one matrix product per query
            ids = self.ids()
            vectors = self.index.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim))
            order = np.argsort(ids)
            self._sorted = (ids[order], np.ascontiguousarray(vectors[order], dtype=np.float32))
        ids, vectors = self._sorted
        return ids, vectors @ np.asarray(query, dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write the index file."""
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> "FaissStore":
        """Read an index file written by `save`."""
        import faiss

        index = faiss.read_index(str(path))
        return cls(index.d, index)


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    path TEXT PRIMARY KEY, title TEXT, source TEXT, author TEXT, editor TEXT, date TEXT, sha256 TEXT
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc TEXT NOT NULL REFERENCES documents(path), position INTEGER,
    text TEXT NOT NULL, start INTEGER, "end" INTEGER, heading TEXT, page INTEGER
);
CREATE INDEX passages_doc ON passages(doc, position);
"""
# Columns in StoredPassage order.
_PASSAGE_SELECT = """SELECT p.id, p.doc, p.position, p.text, p.start, p."end", p.heading,
                            d.title, d.source, d.author, d.date, p.page
                     FROM passages p JOIN documents d ON d.path = p.doc"""


class PassageStore:
    """Passage texts and document metadata in SQLite, read-only once built."""

    def __init__(self, path: Path):
        self.path = path
        # check_same_thread=False: the web app reads from worker threads; the store is read-only.
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    @staticmethod
    def write(path: Path, build: str, documents: list[DocumentRow], passages: list[PassageRow]) -> None:
        """Create the database for one build: documents, passages, build id."""
        db = sqlite3.connect(path)
        with db:
            db.executescript(_SCHEMA)
            db.execute("INSERT INTO meta VALUES ('build', ?)", (build,))
            db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)", [astuple(d) for d in documents])
            db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [astuple(p) for p in passages])
        db.close()

    def document_rows(self) -> list[DocumentRow]:
        """Every document as stored, by path."""
        return [DocumentRow(*row) for row in self.db.execute("SELECT * FROM documents ORDER BY path")]

    def passage_rows(self) -> list[PassageRow]:
        """Every passage as stored, by id."""
        return [PassageRow(*row) for row in self.db.execute("SELECT * FROM passages ORDER BY id")]

    def build_id(self) -> str:
        """The build this database belongs to."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'build'").fetchone()
        return row[0] if row else ""

    def get(self, ids: list[int]) -> dict[int, StoredPassage]:
        """Passages by id, with their document metadata."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"{_PASSAGE_SELECT} WHERE p.id IN ({marks})",
            [int(i) for i in ids],
        ).fetchall()
        return {row[0]: StoredPassage(*row) for row in rows}

    def texts(self) -> dict[int, str]:
        """Every passage text by id."""
        return dict(self.db.execute("SELECT id, text FROM passages").fetchall())

    def around(self, doc: str, position: int, radius: int) -> list[StoredPassage]:
        """The passages of `doc` within `radius` positions of `position`, itself excluded, in order."""
        rows = self.db.execute(
            f"{_PASSAGE_SELECT} WHERE p.doc = ? AND p.position BETWEEN ? AND ? AND p.position != ? ORDER BY p.position",
            (doc, position - radius, position + radius, position),
        ).fetchall()
        return [StoredPassage(*row) for row in rows]

    def count(self) -> int:
        """Number of passages."""
        return self.db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]

    def documents(self) -> list[DocumentInfo]:
        """Every indexed document with its passage count."""
        rows = self.db.execute(
            """SELECT d.path, d.title, d.source, d.author, d.date, COUNT(p.id)
               FROM documents d LEFT JOIN passages p ON p.doc = d.path GROUP BY d.path ORDER BY d.path"""
        ).fetchall()
        return [DocumentInfo(*row) for row in rows]

    def close(self) -> None:
        self.db.close()


@dataclass
class LoadedIndex:
    """A complete build, ready to search."""

    manifest: Manifest
    vectors: FaissStore
    passages: PassageStore
    folder: Path
    clauses: FaissStore
    clause_table: np.ndarray  # rows of (passage id, start, end); the row is the clause's id
    clause_types: np.ndarray  # bool rows: which kinds of answer (qa.answer.ANSWER_TYPES) each clause gives
    lexical: LexicalIndex


def clause_table(passages: list[tuple[int, str]]) -> np.ndarray:
    """(passage id, start, end) of every clause of every (passage id, text), in passage-id order."""
    rows = [(pid, s, e) for pid, text in sorted(passages) for s, e in clause_spans(text)]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def read_manifest(index_dir: Path) -> Manifest | None:
    """The current manifest, or None if there is no index yet."""
    path = Path(index_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(**data)
    except (ValueError, TypeError) as e:
        raise QAError(f"The index manifest {path} is damaged ({e}); run `qa index --rebuild` to rebuild it.") from e


def write_build(index_dir: Path, manifest_fields: dict, documents: list[DocumentRow], passages: list[PassageRow],
                vectors: FaissStore, clause_vectors: np.ndarray) -> Manifest:
    """Write a complete build beside the current one, then swap the manifest in: the one place a build is made.

    `clause_vectors` embeds the clauses of `clause_table` over the passages, in its order.
    """
    ids = sorted(p.id for p in passages)
    if len(set(ids)) != len(ids) or ids != sorted(vectors.ids().tolist()):
        raise RuntimeError("a build's vector ids must be exactly its passage ids")
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    build = datetime.now(timezone.utc).strftime("build-%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:8]
    folder = index_dir / build
    folder.mkdir()
    vectors.save(folder / "vectors.faiss")
    PassageStore.write(folder / "passages.sqlite", build, documents, passages)
    _write_retrieval_aids(folder, [(p.id, p.text) for p in passages], clause_vectors, manifest_fields["dim"])
    _fsync_tree(folder)
    manifest = Manifest(
        format_version=FORMAT_VERSION, passages=len(passages), documents=len(documents), build=build,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), **manifest_fields,
    )
    _atomic_write(index_dir / MANIFEST, json.dumps(asdict(manifest), ensure_ascii=False, indent=2))
    for old in index_dir.glob("build-*"):
        if old.name != build:
            shutil.rmtree(old, ignore_errors=True)
    return manifest


def _write_retrieval_aids(folder: Path, passages: list[tuple[int, str]], clause_vectors: np.ndarray, dim: int) -> None:
    """Clause vectors and the lexical index: both derived from the build's complete list of (passage id, text)."""
    table = clause_table(passages)
    if len(table) != len(clause_vectors):
        raise ValueError(f"{len(clause_vectors)} clause vectors for {len(table)} clauses")
    store = FaissStore(clause_vectors.shape[1] if len(clause_vectors) else dim)
    store.add(np.arange(len(table), dtype=np.int64), clause_vectors)
    store.save(folder / "clauses.faiss")
    np.save(folder / "clauses.npy", table)
    LexicalIndex.build(passages).save(folder / "lexical")


def load_index(index_dir: Path) -> LoadedIndex:
    """Open the current build, checking its parts belong together."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise QAError(f"There is no index in {index_dir}; run `qa index` to build it.")
    if manifest.format_version != FORMAT_VERSION:
        raise QAError(
            f"The index in {index_dir} has format {manifest.format_version}, this version reads "
            f"{FORMAT_VERSION}; run `qa index --rebuild`."
        )
    folder = index_dir / manifest.build
    try:
        vectors = FaissStore.load(folder / "vectors.faiss")
        passages = PassageStore(folder / "passages.sqlite")
        build, count = passages.build_id(), passages.count()
        clauses = FaissStore.load(folder / "clauses.faiss")
        table = np.load(folder / "clauses.npy")
        lexical = LexicalIndex.load(folder / "lexical")
        texts = passages.texts()
    except Exception as e:  # faiss raises RuntimeError, sqlite DatabaseError, numpy/json ValueError, OSError...
        raise QAError(f"The index in {index_dir} is damaged ({e}); run `qa index --rebuild`.") from e
    in_step = (len(clauses) == len(table) and clauses.dim == manifest.dim
               and np.array_equal(lexical.ids, np.sort(vectors.ids())))
    if build != manifest.build or count != manifest.passages or len(vectors) != count or vectors.dim != manifest.dim \
            or not in_step:
        raise QAError(f"The index files in {index_dir} do not match their manifest; run `qa index --rebuild`.")
    types = np.array([answer_types(texts[int(pid)][s:e]) for pid, s, e in table], dtype=bool).reshape(len(table), -1)
    return LoadedIndex(manifest, vectors, passages, folder, clauses, table, types, lexical)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_tree(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir():
            _fsync_tree(child)
            continue
        with open(child, "rb") as f:
            os.fsync(f.fileno())
    _fsync_dir(folder)
    _fsync_dir(folder.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
