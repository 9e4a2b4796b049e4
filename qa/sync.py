"""Keep the index in step with the data folder: compare content hashes, read and embed only what changed."""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.cache import EmbeddingCache, text_hash
from qa.chunking import split_passages
from qa.embedding import Embedder
from qa.errors import QAError
from qa.index import (
    FORMAT_VERSION,
    DocumentRow,
    FaissStore,
    PassageRow,
    PassageStore,
    clause_table,
    load_index,
    read_manifest,
    write_build,
)
from qa.ingest import list_files, read_documents

log = logging.getLogger("qa")

# Bump when ingestion or chunking rules change, so existing indexes are rebuilt.
PIPELINE_VERSION = 2
EMBED_BATCH = 64
CACHE_FILE = "embeddings.sqlite"
LOCK_FILE = ".lock"


@dataclass
class Plan:
    """What a build must do to bring the index in step with the data folder."""

    reason: str
    full: bool  # read every file and start a new index, instead of deriving from the current one
    files: dict[str, str]  # every supported file: relative path -> sha256 of its bytes
    read: list[str] = field(default_factory=list)  # files to read: all (full) or new and changed ones
    removed: list[str] = field(default_factory=list)  # indexed documents whose passages leave the index
    use_cache: bool = True  # False: embed every passage afresh (an explicit rebuild)


@dataclass
class Outcome:
    """The new build's size and what it cost."""

    documents: int
    passages: int
    embedded: int
    warnings: list[str]


def scan(data_dir: Path) -> dict[str, str]:
    """sha256 of every supported file under data_dir, by relative path."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise QAError(
            f"The data folder {data_dir} does not exist: create it and put documents in it "
            "(.txt, .md, .html, .pdf, .docx)."
        )
    return {p.relative_to(data_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in list_files(data_dir)}


def fingerprint(files: dict[str, str]) -> str:
    """One hash of every file's path and content hash, and of the pipeline version."""
    h = hashlib.sha256(f"pipeline={PIPELINE_VERSION}".encode())
    for path, sha in sorted(files.items()):
        h.update(f"{path}\0{sha}\0".encode())
    return h.hexdigest()


def plan(data_dir: Path, index_dir: Path, model: str, force: bool = False) -> Plan | None:
    """What to rebuild, or None when the index already matches the data folder and the model."""
    files = scan(data_dir)
    every = sorted(files)
    if force:
        return Plan("a rebuild was requested", True, files, every, use_cache=False)
    manifest = read_manifest(index_dir)
    if manifest is None:
        return Plan("there is no index yet", True, files, every)
    if manifest.format_version != FORMAT_VERSION:
        return Plan(f"the index format changed ({manifest.format_version} -> {FORMAT_VERSION}), so every document "
                    "is read again", True, files, every)
    if manifest.model != model:
        return Plan(f"the index was built with model {manifest.model}, the service now uses {model}, so every "
                    "passage is embedded again", True, files, every)
    if manifest.pipeline != PIPELINE_VERSION:
        return Plan(f"the document reading rules changed (version {manifest.pipeline} -> {PIPELINE_VERSION}), "
                    "so every document is read again", True, files, every)
    if manifest.fingerprint == fingerprint(files):
        return None
    indexed = _indexed_hashes(Path(index_dir) / manifest.build / "passages.sqlite")
    read = [p for p in every if indexed.get(p) != files[p]]
    removed = sorted(p for p, sha in indexed.items() if files.get(p) != sha)
    new = sum(p not in indexed for p in read)
    counts = [f"{new} new", f"{len(read) - new} changed", f"{sum(p not in files for p in removed)} removed"]
    return Plan(f"documents changed: {', '.join(counts)}", False, files, read, removed)


def _indexed_hashes(database: Path) -> dict[str, str]:
    """Content hash of every document in a build."""
    try:
        store = PassageStore(database)
        try:
            return {row.path: row.sha256 for row in store.document_rows()}
        finally:
            store.close()
    except Exception as e:  # sqlite raises OperationalError or DatabaseError: both mean a damaged build
        raise QAError(f"The index in {database.parent.parent} is damaged ({e}); run `qa index --rebuild`.") from e


def execute(plan: Plan, data_dir: Path, index_dir: Path, embedder: Embedder, progress: bool = False) -> Outcome:
    """Carry out a plan: read its files, embed their passages (cache first), write the complete new build."""
    from tqdm import tqdm

    index_dir = Path(index_dir)
    paths = [Path(data_dir) / p for p in plan.read]
    reading = tqdm(paths, desc="Reading documents", unit="file", disable=not progress or len(paths) < 2)
    documents, warnings = read_documents(Path(data_dir), reading)
    for warning in warnings:
        log.warning(warning)
    if plan.full:
        kept_documents, kept_passages, vectors, next_id = [], [], FaissStore(embedder.dim), 0
    else:
        kept_documents, kept_passages, vectors, next_id = _kept(index_dir, set(plan.removed))
    new_documents = [
        DocumentRow(d.path, d.title, d.source, d.author, d.editor, d.date, plan.files[d.path]) for d in documents
    ]
    pieces = [p for d in documents for p in split_passages(d)]
    new_passages = [
        PassageRow(next_id + i, p.doc, p.position, p.text, p.start, p.end, p.heading, p.page)
        for i, p in enumerate(pieces)
    ]
    all_documents = sorted(kept_documents + new_documents, key=lambda d: d.path)
    if not all_documents:
        raise QAError(f"No readable documents in {data_dir}: put .txt, .md, .html, .pdf or .docx files there.")
    cache = EmbeddingCache(index_dir / CACHE_FILE, cache_key(embedder), embedder.dim)
    try:
        new_vectors, embedded = embed_with_cache([p.text for p in new_passages], embedder, cache, plan.use_cache,
                                                 progress)
        if new_passages:
            vectors.add(np.array([p.id for p in new_passages], dtype=np.int64), new_vectors)
        all_passages = kept_passages + new_passages
        text_of = {p.id: p.text for p in all_passages}
        clauses = [text_of[pid][a:b] for pid, a, b in clause_table(list(text_of.items()))]
        # Clauses of unchanged passages come from the cache, like their passages.
        clause_vectors, _ = embed_with_cache(clauses, embedder, cache, plan.use_cache, progress, "Embedding clauses")
        write_build(
            index_dir,
            {"model": embedder.name, "dim": embedder.dim, "fingerprint": fingerprint(plan.files),
             "pipeline": PIPELINE_VERSION},
            all_documents, all_passages, vectors, clause_vectors,
        )
        cache.keep_only({text_hash(t) for t in [*text_of.values(), *clauses]})
    finally:
        cache.close()
    return Outcome(len(all_documents), len(all_passages), embedded, warnings)


def cache_key(embedder: Embedder) -> str:
    """Whose vectors the cache holds: the model and the prompt it encodes passages with."""
    prompt = getattr(embedder, "prompts", {}).get("passage", "")
    return f"{embedder.name} {prompt!r}" if prompt else embedder.name


def _kept(index_dir: Path, removed: set[str]) -> tuple[list[DocumentRow], list[PassageRow], FaissStore, int]:
    """The current build less the removed documents, its vectors loaded afresh, and the next free passage id."""
    current = load_index(index_dir)
    try:
        documents = [d for d in current.passages.document_rows() if d.path not in removed]
        passages = current.passages.passage_rows()
    finally:
        current.passages.close()
    next_id = max((p.id for p in passages), default=-1) + 1
    current.vectors.remove([p.id for p in passages if p.doc in removed])
    return documents, [p for p in passages if p.doc not in removed], current.vectors, next_id


def embed_with_cache(texts: list[str], embedder: Embedder, cache: EmbeddingCache, use_cache: bool = True,
                     progress: bool = False, desc: str = "Embedding passages") -> tuple[np.ndarray, int]:
    """Vectors for texts, embedding only those the cache lacks (all, without use_cache); also how many were embedded."""
    from tqdm import tqdm

    hashes = [text_hash(t) for t in texts]
    known = cache.get(hashes) if use_cache else {}
    missing = list(dict.fromkeys(h for h in hashes if h not in known))
    text_of = dict(zip(hashes, texts))
    with tqdm(total=len(missing), desc=desc, unit="text", disable=not progress) as bar:
        for i in range(0, len(missing), EMBED_BATCH):
            batch = missing[i : i + EMBED_BATCH]
            vectors = embedder.embed([text_of[h] for h in batch], "passage")
            cache.put(batch, vectors)
            known.update(zip(batch, vectors))
            bar.update(len(batch))
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32), 0
    return np.stack([known[h] for h in hashes]).astype(np.float32), len(missing)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the index folder, so two processes never build at once."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Another process is building the index in %s; waiting for it to finish.", index_dir)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
