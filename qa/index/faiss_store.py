"""The default store: FAISS vectors, SQLite passages, clause vectors and BM25 in build folders under `index/`.

Layout of the index folder:

    manifest.json            written last, atomically; names the current build and each file's size and hash
    <build>/vectors.faiss    inner product over normalized vectors, ids = passage ids (qa.index.ann picks the kind)
    <build>/passages.sqlite  documents (with content hashes) and passages
    <build>/clauses.npy      (passage id, start, end, answer kinds) of every clause, by passage id
    <build>/clause_vectors.npy  the clauses' vectors, float16, same rows (memory-mapped: only candidates are read)
    <build>/lexical/         BM25 over the passages' words, and the words, which an update reuses (qa.index.lexical)
    embeddings.sqlite        passage and clause vectors cached across builds (qa.embed.cache)

A new build goes into a new folder and becomes current when the manifest is swapped in by rename,
so a reader always sees a complete build, old or new. An update derives the new build from the
current one's files, which are never changed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from dataclasses import asdict, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xxhash

from qa.passages.chunking import Passage
from qa.core.errors import IndexWriteError, QAError
from qa.core.files import SQLITE_IDS_PER_QUERY, write_atomically
from qa.core.settings import DEFAULT_INDEX_MEMORY_MB
from qa.index.ann import IndexChoice, choose_faiss_index, index_choice, make_faiss_index, train_if_needed
from qa.index.base import (
    FORMAT_VERSION,
    META_FIELDS,
    Change,
    Clauses,
    Collection,
    DocumentInfo,
    DocumentRow,
    FileCheck,
    Manifest,
    Store,
    StoredPassage,
)
from qa.index.lexical import FOLDER as LEXICAL_FOLDER
from qa.index.lexical import LexicalIndex, read_words, tokenize
from qa.read.documents import DocumentMeta

MANIFEST = "manifest.json"
# Clause vectors are read into memory as float32 up to this size; larger sets stay float16, memory-mapped.
CLAUSES_IN_MEMORY_BYTES = 512 << 20


class FaissVectors:
    """Passage vectors in a FAISS index under their passage ids: exact, or the approximate kind qa.index.ann chose."""

    def __init__(self, dim: int, index=None, choice: IndexChoice | None = None):
        self.dim = dim
        self.index = index if index is not None else make_faiss_index(choice or IndexChoice("flat", dim))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids (an empty IVF index is trained on them first)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors):
            train_if_needed(self.index, vectors)
            self.index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> None:
        """Drop the vectors with these ids."""
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row; missing slots have id -1."""
        k = max(1, min(k, len(self)))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids (decoded, for a quantized index)."""
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def ids(self) -> np.ndarray:
        """Every id held, ascending."""
        import faiss

        if isinstance(self.index, faiss.IndexIDMap2):
            return np.sort(faiss.vector_to_array(self.index.id_map))
        invlists = self.index.invlists
        parts = [faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                 for i in range(self.index.nlist) if invlists.list_size(i)]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def choice(self) -> IndexChoice:
        """The index kind and its parameters (its `spec` is what the manifest records)."""
        return index_choice(self.index, self.dim)

    def save(self, path: Path) -> None:
        """Write the index file."""
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> "FaissVectors":
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
# The tables keep their column names (a document's key is `path` in documents, `doc` in passages); rows become
# records, and records rows, in _stored, _passage, _document_row and _passage_row.
_PASSAGE_SELECT = ("SELECT p.*, d.title, d.source, d.author, d.editor, d.date "
                   "FROM passages p JOIN documents d ON d.path = p.doc")
_DOCUMENT_COLUMNS = "path, title, source, author, editor, date, sha256"
_PASSAGE_COLUMNS = 'id, doc, position, text, start, "end", heading, page'


class PassageStore:
    """Passage texts and document metadata in SQLite, read-only once built."""

    def __init__(self, path: Path):
        self.path = path
        # check_same_thread=False: the web app reads from worker threads; the store is read-only.
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.db.row_factory = sqlite3.Row

    @staticmethod
    def write(path: Path, build: str, documents: list[DocumentRow], passages: list[Passage]) -> None:
        """Create the database for one build: documents, passages, build id."""
        db = sqlite3.connect(path)
        with db:
            db.executescript(_SCHEMA)
            db.execute("INSERT INTO meta VALUES ('build', ?)", (build,))
            db.executemany(f"INSERT INTO documents ({_DOCUMENT_COLUMNS}) VALUES ({_placeholders(_DOCUMENT_COLUMNS)})",
                           [_document_row(d) for d in documents])
            db.executemany(f"INSERT INTO passages ({_PASSAGE_COLUMNS}) VALUES ({_placeholders(_PASSAGE_COLUMNS)})",
                           [_passage_row(p) for p in passages])
        db.close()

    def document_rows(self) -> list[DocumentRow]:
        """Every document as stored, by path."""
        rows = self.db.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents ORDER BY path")
        return [DocumentRow(row["path"], _meta(row), row["sha256"]) for row in rows]

    def passage_rows(self) -> list[Passage]:
        """Every passage as stored, by id."""
        return [_passage(row) for row in self.db.execute(f"SELECT {_PASSAGE_COLUMNS} FROM passages ORDER BY id")]

    def build_id(self) -> str:
        """The build this database belongs to."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'build'").fetchone()
        return row[0] if row else ""

    def get(self, ids: list[int]) -> dict[int, StoredPassage]:
        """Passages by id, with their document metadata."""
        found = {}
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), SQLITE_IDS_PER_QUERY):
            chunk = ids[i : i + SQLITE_IDS_PER_QUERY]
            rows = self.db.execute(f"{_PASSAGE_SELECT} WHERE p.id IN ({','.join('?' * len(chunk))})", chunk)
            found.update((row["id"], _stored(row)) for row in rows)
        return found

    def around(self, document: str, position: int, radius: int) -> list[StoredPassage]:
        """The passages of `document` within `radius` positions of `position`, itself excluded, in order."""
        rows = self.db.execute(
            f"{_PASSAGE_SELECT} WHERE p.doc = ? AND p.position BETWEEN ? AND ? AND p.position != ? ORDER BY p.position",
            (document, position - radius, position + radius, position),
        ).fetchall()
        return [_stored(row) for row in rows]

    def of_documents(self, docs: list[str]) -> list[StoredPassage]:
        """Every passage of these documents, by document and position."""
        found = []
        for i in range(0, len(docs), SQLITE_IDS_PER_QUERY):
            chunk = docs[i : i + SQLITE_IDS_PER_QUERY]
            rows = self.db.execute(f"{_PASSAGE_SELECT} WHERE p.doc IN ({','.join('?' * len(chunk))}) "
                                   "ORDER BY p.doc, p.position", chunk)
            found += [_stored(row) for row in rows]
        return found

    def ids_of(self, docs: list[str]) -> np.ndarray:
        """The passage ids of these documents, ascending."""
        ids = []
        for i in range(0, len(docs), SQLITE_IDS_PER_QUERY):
            chunk = docs[i : i + SQLITE_IDS_PER_QUERY]
            ids += [r[0] for r in self.db.execute(f"SELECT id FROM passages WHERE doc IN ({','.join('?' * len(chunk))})",
                                                  chunk)]
        return np.array(sorted(ids), dtype=np.int64)

    def count(self) -> int:
        """Number of passages."""
        return self.db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]

    def max_id(self) -> int:
        """The highest passage id, -1 when there is none."""
        return self.db.execute("SELECT COALESCE(MAX(id), -1) FROM passages").fetchone()[0]

    def documents(self) -> list[DocumentInfo]:
        """Every indexed document with its passage count."""
        rows = self.db.execute(
            """SELECT d.path, d.title, d.source, d.author, d.editor, d.date, COUNT(p.id) AS passages
               FROM documents d LEFT JOIN passages p ON p.doc = d.path GROUP BY d.path ORDER BY d.path"""
        ).fetchall()
        return [DocumentInfo(row["path"], _meta(row), row["passages"]) for row in rows]

    def close(self) -> None:
        self.db.close()


class FolderCollection(Collection):
    """One build folder opened for search."""

    def __init__(self, manifest: Manifest, folder: Path):
        self.manifest, self.folder = manifest, folder
        self.vectors = FaissVectors.load(folder / "vectors.faiss")
        self.store = PassageStore(folder / "passages.sqlite")
        self.clause_table = np.load(folder / "clauses.npy")
        self.clause_vectors = np.load(folder / "clause_vectors.npy", mmap_mode="r")
        if self.clause_vectors.size * 4 <= CLAUSES_IN_MEMORY_BYTES:
            # Converting a question's candidate clauses from float16 costs more than the rest of the search.
            self.clause_vectors = np.asarray(self.clause_vectors, dtype=np.float32)
        self.lexical_index = LexicalIndex.load(folder / LEXICAL_FOLDER)

    def dense(self, query: np.ndarray, k: int, documents: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        if documents is not None:
            # Within chosen documents: every one of their passages is scored (they are few, and exact).
            ids = self.store.ids_of(documents)
            cosines = self.cosines(query, ids)
            best = np.argsort(-cosines, kind="stable")[:k]
            return ids[best], cosines[best]
        if len(self.vectors) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.vectors.search(query.reshape(1, -1), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def lexical(self, question: str, k: int, documents: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        among = self.store.ids_of(documents) if documents is not None else None
        return self.lexical_index.top(question, k, among)

    def cosines(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self.vectors.vectors(ids) @ np.asarray(query, dtype=np.float32)

    def clauses(self, ids: np.ndarray) -> Clauses:
        owners = self.clause_table[:, 0]
        ids = np.sort(np.asarray(ids, dtype=np.int64))
        first, last = np.searchsorted(owners, ids, "left"), np.searchsorted(owners, ids, "right")
        counts = last - first
        # every row from first to last of each passage, without a Python loop: starts repeated, plus 0..count-1
        rows = np.repeat(first, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return Clauses.from_table(self.clause_table[rows], np.asarray(self.clause_vectors[rows], np.float32))

    def word_weights(self, question: str) -> dict[str, float]:
        return self.lexical_index.known_words(question)

    def passages(self, ids: list[int]) -> dict[int, StoredPassage]:
        return self.store.get(ids)

    def around(self, document: str, position: int, radius: int) -> list[StoredPassage]:
        return self.store.around(document, position, radius)

    def document_passages(self, document: str) -> list[StoredPassage]:
        return self.store.of_documents([document])

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def size_bytes(self) -> int:
        try:
            return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())
        except FileNotFoundError:  # a newer build, made by another process, is removing this one
            return 0

    def close(self) -> None:
        self.store.close()


class FolderStore(Store):
    """Builds in folders under `index_dir`, the current one named by manifest.json."""

    def __init__(self, index_dir: Path, memory_budget: int = DEFAULT_INDEX_MEMORY_MB << 20):
        self.index_dir = Path(index_dir)
        self.memory_budget = memory_budget  # bytes the vector index may take before it is compressed
        self._manifest: tuple[tuple[int, int, int], Manifest] | None = None  # the last one read, with its file's stat
        self._sound: tuple | None = None  # the files (build, names and stats) last found whole: not hashed again

    def describe(self) -> str:
        return str(self.index_dir)

    def read_manifest(self) -> Manifest | None:
        path = self.index_dir / MANIFEST
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        # Read on every question to see a new build: parsed again only when the file changed.
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._manifest is not None and self._manifest[0] == seen:
            return self._manifest[1]
        try:
            manifest = Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as e:
            raise QAError(f"The index manifest {path} is damaged ({e}); run `qa index --rebuild` to rebuild it.") from e
        self._manifest = (seen, manifest)
        return manifest

    def _current_db(self) -> PassageStore:
        manifest = self.read_manifest()
        if manifest is None:
            raise QAError(f"There is no index in {self.index_dir}; run `qa index` to build it.")
        try:
            return PassageStore(self.index_dir / manifest.build / "passages.sqlite")
        except sqlite3.Error as e:
            raise QAError(f"The index in {self.index_dir} is damaged ({e}); run `qa index --rebuild`.") from e

    def document_rows(self) -> list[DocumentRow]:
        db = self._current_db()
        try:
            return db.document_rows()
        except sqlite3.Error as e:
            raise QAError(f"The index in {self.index_dir} is damaged ({e}); run `qa index --rebuild`.") from e
        finally:
            db.close()

    def next_id(self) -> int:
        db = self._current_db()
        try:
            return db.max_id() + 1
        finally:
            db.close()

    def commit(self, change: Change) -> Manifest:
        dim = change.spec.dim
        if change.full:
            passages, clauses, words = [], Clauses.empty(dim), {}
            vectors = FaissVectors(dim, choice=choose_faiss_index(len(change.passages), dim, self.memory_budget))
        else:
            passages, vectors, clauses, words = self._kept(set(change.removed))
        passages += change.passages
        vectors.add(np.array([p.id for p in change.passages], dtype=np.int64), change.vectors)
        vectors = _rechosen(vectors, choose_faiss_index(len(passages), dim, self.memory_budget))
        # Only the new passages are cut into words (jieba: ~1 ms a passage); the kept ones' come from the current build.
        words.update((p.id, tokenize(p.text)) for p in passages if p.id not in words)
        return self._write(change, passages, vectors, _merge(clauses, change.clauses), words)

    def _kept(self, removed: set[str]) -> tuple[list[Passage], FaissVectors, Clauses, dict[int, list[str]]]:
        """The current build's passages, vectors, clauses and words less the removed documents'."""
        current = self.open()
        try:
            rows = current.store.passage_rows()
        finally:
            current.close()
        gone = np.array([p.id for p in rows if p.document in removed], dtype=np.int64)
        current.vectors.remove(gone)
        keep = ~np.isin(current.clause_table[:, 0], gone)
        # Kept as stored (float16): they are written back as they are.
        clauses = Clauses.from_table(current.clause_table[keep], current.clause_vectors[keep])
        kept = [p for p in rows if p.document not in removed]
        words = read_words(current.folder / LEXICAL_FOLDER) or {}  # none in a build from before words were kept
        return kept, current.vectors, clauses, {p.id: words[p.id] for p in kept if p.id in words}

    def _write(self, change: Change, passages: list[Passage], vectors: FaissVectors, clauses: Clauses,
               words: dict[int, list[str]]) -> Manifest:
        ids = sorted(p.id for p in passages)
        if len(set(ids)) != len(ids) or ids != vectors.ids().tolist():
            raise RuntimeError("a build's vector ids must be exactly its passage ids")
        build = datetime.now(timezone.utc).strftime("build-%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:8]
        folder = self.index_dir / build
        try:
            manifest = self._write_build(change, passages, vectors, clauses, words, folder)
        except (OSError, sqlite3.Error, RuntimeError) as e:  # a full disk or a read-only folder: faiss says RuntimeError
            shutil.rmtree(folder, ignore_errors=True)
            raise IndexWriteError(f"The index in {self.index_dir} could not be written ({e}). Free some disk space "
                                  "or make the folder writable, then run `qa index`.") from e
        for old in self.index_dir.glob("build-*"):
            if old.name != build:
                shutil.rmtree(old, ignore_errors=True)
        return manifest

    def _write_build(self, change: Change, passages: list[Passage], vectors: FaissVectors, clauses: Clauses,
                     words: dict[int, list[str]], folder: Path) -> Manifest:
        """Write a build's files into `folder`, then make it current by swapping the manifest in."""
        build = folder.name
        folder.mkdir(parents=True)
        vectors.save(folder / "vectors.faiss")
        PassageStore.write(folder / "passages.sqlite", build, change.documents, passages)
        if np.any(np.diff(clauses.passage_ids) < 0):
            order = np.argsort(clauses.passage_ids, kind="stable")
            clauses = clauses.take(order)
        np.save(folder / "clauses.npy", clauses.table())
        np.save(folder / "clause_vectors.npy", clauses.vectors.astype(np.float16))
        LexicalIndex.from_words(words).save(folder / LEXICAL_FOLDER)
        _fsync_tree(folder)
        manifest = Manifest(
            format_version=FORMAT_VERSION, passages=len(passages), documents=len(change.documents), build=build,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"), vector_index=vectors.choice().spec,
            files={f.relative_to(folder).as_posix(): file_check(f) for f in sorted(folder.rglob("*")) if f.is_file()},
            **asdict(change.spec),
        )
        text = json.dumps(asdict(manifest), ensure_ascii=False, indent=2)
        write_atomically(self.index_dir / MANIFEST, lambda path: path.write_text(text, encoding="utf-8"))
        return manifest

    def damage(self, every_byte: bool = False) -> str:
        manifest = self.read_manifest()
        if manifest is None:
            return ""
        if not manifest.files:
            return "the file checks are missing"
        folder = self.index_dir / manifest.build
        # Opening checks once whether the build is up to date, then the files it loads: the same files, hashed once.
        seen = (manifest.build, *(_stat(folder / name) for name in manifest.files))
        if seen == self._sound and not every_byte:
            return ""
        damage = _damage(folder, manifest.files)
        self._sound = None if damage else seen
        return damage

    def open(self) -> FolderCollection:
        manifest = self.read_manifest()
        where = self.index_dir
        if manifest is None:
            raise QAError(f"There is no index in {where}; run `qa index` to build it.")
        if manifest.format_version != FORMAT_VERSION:
            raise QAError(f"The index in {where} has format {manifest.format_version}, this version reads "
                          f"{FORMAT_VERSION}; run `qa index --rebuild`.")
        damage = self.damage()
        if damage:
            raise QAError(f"The index in {where} is damaged ({damage}); run `qa index --rebuild`.")
        try:
            collection = FolderCollection(manifest, where / manifest.build)
            build, count = collection.store.build_id(), collection.store.count()
        except Exception as e:  # faiss raises RuntimeError, sqlite DatabaseError, numpy/json ValueError, OSError...
            raise QAError(f"The index in {where} is damaged ({e}); run `qa index --rebuild`.") from e
        v = collection.vectors
        in_step = (build == manifest.build and count == manifest.passages == len(v) and v.dim == manifest.dim
                   and len(collection.clause_table) == len(collection.clause_vectors)
                   and collection.clause_vectors.shape[1:] == (manifest.dim,)
                   and len(collection.lexical_index.ids) == count)
        if not in_step:
            collection.close()
            raise QAError(f"The index files in {where} do not match their manifest; run `qa index --rebuild`.")
        return collection


def file_check(path: Path) -> FileCheck:
    """Size and checksum of all of a file: damage anywhere in it is found when the build is opened."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return FileCheck(path.stat().st_size, digest.hexdigest())


def _stat(path: Path) -> tuple[int, int, int] | None:
    """A file's inode, size and modification time (any rewrite changes one), or None when it is missing."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _damage(folder: Path, files: dict[str, FileCheck]) -> str:
    """What differs between a build folder and the file checks its manifest recorded ('' when nothing)."""
    for name, check in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != check.bytes or file_check(path) != check:
            return f"{name} has changed since it was built"
    return ""


def _merge(a: Clauses, b: Clauses) -> Clauses:
    """Both sets of clauses, by passage id (a's passages come first: an update's new ids are higher)."""
    if not len(a) or not len(b):  # no copy of a million clause vectors for nothing
        return b if not len(a) else a
    return Clauses.from_table(np.concatenate([a.table(), b.table()]), np.concatenate([a.vectors, b.vectors]))


def _rechosen(vectors: FaissVectors, choice: IndexChoice) -> FaissVectors:
    """The vectors moved to the index kind `choice`: the same object when they are in that kind already."""
    if choice.kind == vectors.choice().kind:
        return vectors
    ids = vectors.ids()
    moved = FaissVectors(vectors.dim, choice=choice)
    moved.add(ids, vectors.vectors(ids))
    return moved


def _meta(row: sqlite3.Row) -> DocumentMeta:
    return DocumentMeta(**{name: row[name] or "" for name in META_FIELDS})


def _passage(row: sqlite3.Row) -> Passage:
    values = {name: row[name] for name in row.keys() if name not in META_FIELDS}
    return Passage(document=values.pop("doc"), **values)


def _stored(row: sqlite3.Row) -> StoredPassage:
    passage = _passage(row)
    return StoredPassage(**{f.name: getattr(passage, f.name) for f in fields(Passage)}, meta=_meta(row))


def _document_row(d: DocumentRow) -> dict:
    return {"path": d.document, **asdict(d.meta), "sha256": d.sha256}


def _passage_row(p: Passage) -> dict:
    return {"doc": p.document, **{f.name: getattr(p, f.name) for f in fields(Passage) if f.name != "document"}}


def _placeholders(columns: str) -> str:
    """Named SQL parameters for a column list: 'id, "end"' -> ':id, :end'."""
    return ", ".join(":" + c.strip().strip('"') for c in columns.split(","))


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
