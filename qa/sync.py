"""Keep the index in step with the data folder: compare content hashes, read and embed only what changed."""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from qa.cache import EmbeddingCache, text_hash
from qa.chunking import clause_table, split_passages
from qa.embedding import Embedder
from qa.errors import QAError
from qa.ingest import list_files, read_documents
from qa.stores.base import FORMAT_VERSION, BuildSpec, Change, Clauses, DocumentRow, Store

log = logging.getLogger("qa")

# Bump when ingestion or chunking rules change, so existing indexes are rebuilt.
PIPELINE_VERSION = 3
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


def plan(data_dir: Path, store: Store, model: str, force: bool = False) -> Plan | None:
    """What to rebuild, or None when the index already matches the data folder and the model."""
    files = scan(data_dir)
    every = sorted(files)
    if force:
        return Plan("a rebuild was requested", True, files, every, use_cache=False)
    manifest = store.read_manifest()
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
    indexed = {row.path: row.sha256 for row in store.document_rows()}
    read = [p for p in every if indexed.get(p) != files[p]]
    removed = sorted(p for p, sha in indexed.items() if files.get(p) != sha)
    new = sum(p not in indexed for p in read)
    counts = [f"{new} new", f"{len(read) - new} changed", f"{sum(p not in files for p in removed)} removed"]
    return Plan(f"documents changed: {', '.join(counts)}", False, files, read, removed)


def execute(plan: Plan, data_dir: Path, store: Store, cache_path: Path, embedder: Embedder,
            progress: bool = False) -> Outcome:
    """Carry out a plan: read its files, embed their passages and clauses (cache first), commit the new build."""
    from tqdm import tqdm

    paths = [Path(data_dir) / p for p in plan.read]
    reading = tqdm(paths, desc="Reading documents / 读取文档", unit="file", disable=not progress or len(paths) < 2)
    documents, warnings = read_documents(Path(data_dir), reading)
    for warning in warnings:
        log.warning(warning)
    kept = [] if plan.full else [d for d in store.document_rows() if d.path not in set(plan.removed)]
    next_id = 0 if plan.full else store.next_id()
    new_documents = [
        DocumentRow(path=d.path, title=d.title, source=d.source, author=d.author, editor=d.editor, date=d.date,
                    sha256=plan.files[d.path])
        for d in documents
    ]
    pieces = [p for d in documents for p in split_passages(d)]
    passages = [replace(p, id=next_id + i) for i, p in enumerate(pieces)]
    all_documents = sorted(kept + new_documents, key=lambda d: d.path)
    if not all_documents:
        raise QAError(f"No readable documents in {data_dir}: put .txt, .md, .html, .pdf or .docx files there.")
    table = clause_table(passages)
    text_of = {p.id: p.text for p in passages}
    clause_texts = [text_of[pid][a:b] for pid, a, b in table]
    cache = EmbeddingCache(cache_path, cache_key(embedder), embedder.dim)
    try:
        vectors, embedded = embed_with_cache([p.text for p in passages], embedder, cache, plan.use_cache, progress)
        clause_vectors, _ = embed_with_cache(clause_texts, embedder, cache, plan.use_cache, progress,
                                             "Embedding clauses / 向量化分句")
        manifest = store.commit(Change(
            full=plan.full,
            spec=BuildSpec(model=embedder.name, dim=embedder.dim, fingerprint=fingerprint(plan.files),
                           pipeline=PIPELINE_VERSION),
            documents=all_documents, removed=plan.removed, passages=passages, vectors=vectors,
            clauses=Clauses(table[:, 0], table[:, 1:], clause_vectors),
        ))
        # After a full build the cache keeps what the index holds; after an update, vectors of passages that
        # left stay until the next full build (undoing an edit then costs nothing).
        if plan.full:
            cache.keep_only({text_hash(t) for t in [*text_of.values(), *clause_texts]})
    finally:
        cache.close()
    return Outcome(len(all_documents), manifest.passages, embedded, warnings)


def cache_key(embedder: Embedder) -> str:
    """Whose vectors the cache holds: the model and the prompt it encodes passages with."""
    prompt = embedder.prompts.get("passage", "")
    return f"{embedder.name} {prompt!r}" if prompt else embedder.name


def embed_with_cache(texts: list[str], embedder: Embedder, cache: EmbeddingCache, use_cache: bool = True,
                     progress: bool = False, desc: str = "Embedding passages / 向量化段落") -> tuple[np.ndarray, int]:
    """Vectors for texts, embedding only those the cache lacks (all, without use_cache); also how many were embedded."""
    from tqdm import tqdm

    hashes = [text_hash(t) for t in texts]
    known = cache.get(hashes) if use_cache else {}
    text_of = dict(zip(hashes, texts))
    # By length, so each batch pads its texts to similar lengths (BENCHMARKS.md, indexing throughput).
    missing = sorted(dict.fromkeys(h for h in hashes if h not in known), key=lambda h: len(text_of[h]))
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
