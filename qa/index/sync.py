"""Keep the index in step with the data folder: compare content hashes, read and embed only what changed."""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from qa.embed.cache import EmbeddingCache, text_hash
from qa.passages.chunking import Passage, clause_table, split_passages
from qa.embed.base import Embedder
from qa.read.documents import Skipped, sha256_file
from qa.core.errors import IndexWriteError, QAError
from qa.read.folder import list_files, read_documents
from qa.core.settings import ReadLimits
from qa.core.text import clause_spans
from qa.index.base import FORMAT_VERSION, BuildSpec, Change, Clauses, DocumentRow, Store

log = logging.getLogger("qa")

# Bump when the reading, chunking or answer-kind rules change, so existing indexes are rebuilt.
PIPELINE_VERSION = 5
CACHE_FILE = "embeddings.sqlite"
LOCK_FILE = ".lock"
# Progress of a build: (stage, done, total); the stages are "read", "split", "embed" and "write", in order, after
# "wait" (0 of 1) when another build must finish first.
Progress = Callable[[str, int, int], None]


@dataclass
class Plan:
    """What a build must do to bring the index in step with the data folder."""

    reason: str
    full: bool  # read every file and start a new index, instead of deriving from the current one
    files: dict[str, str]  # every supported file: relative path -> sha256 of its bytes
    read: list[str] = field(default_factory=list)  # files to read: all (full) or new and changed ones
    removed: list[str] = field(default_factory=list)  # indexed documents whose passages leave the index
    use_cache: bool = True  # False: embed every passage afresh (an explicit rebuild)
    skipped: list[Skipped] = field(default_factory=list)  # the files left out of the folder's listing


@dataclass
class Outcome:
    """The new build's size and what it cost."""

    documents: int
    passages: int
    embedded: int
    skipped: list[Skipped]  # the files left out: unreadable, or failed to split or embed
    lexical: bool = True  # the build has a BM25 index (False: a Milvus server without full-text search)


@dataclass
class Scan:
    """The data folder's documents, as relative path -> sha256 of its bytes, and the files left out."""

    files: dict[str, str]
    skipped: list[Skipped]


def scan(data_dir: Path, max_bytes: int = ReadLimits().max_bytes, index_dir: Path | None = None) -> Scan:
    """The sha256 of every document under data_dir, by relative path, and the files left out; an index folder
    inside data_dir is not part of it."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise QAError(
            f"The data folder {data_dir} does not exist: create it and put documents in it "
            "(.txt, .md, .html, .pdf, .docx)."
        )
    listing = list_files(data_dir, max_bytes, leave_out=index_dir)
    files, skipped = {}, list(listing.skipped)
    for path in listing.files:
        rel = path.relative_to(data_dir).as_posix()
        try:
            files[rel] = sha256_file(path)
        except OSError as exc:  # removed or unreadable since it was listed
            skipped.append(Skipped(rel, f"{rel} could not be read ({exc.strerror or exc})."))
    return Scan(files, skipped)


def fingerprint(files: dict[str, str]) -> str:
    """One hash of every file's path and content hash, and of the pipeline version."""
    h = hashlib.sha256(f"pipeline={PIPELINE_VERSION}".encode())
    for path, sha in sorted(files.items()):
        h.update(f"{path}\0{sha}\0".encode())
    return h.hexdigest()


def plan(data_dir: Path, store: Store, model: str, force: bool = False,
         max_bytes: int = ReadLimits().max_bytes, index_dir: Path | None = None) -> Plan | None:
    """What to rebuild, or None when the index already matches the data folder and the model."""
    found = scan(data_dir, max_bytes, index_dir)
    files, skipped = found.files, found.skipped
    every = sorted(files)
    if force:
        return Plan("a rebuild was requested", True, files, every, use_cache=False, skipped=skipped)
    manifest = store.read_manifest()
    if manifest is None:
        return Plan("there is no index yet", True, files, every, skipped=skipped)
    if manifest.format_version != FORMAT_VERSION:
        return Plan(f"the index format changed ({manifest.format_version} -> {FORMAT_VERSION}), so every document "
                    "is read again", True, files, every, skipped=skipped)
    if manifest.model != model:
        return Plan(f"the index was built with model {manifest.model}, the service now uses {model}, so every "
                    "passage is embedded again", True, files, every, skipped=skipped)
    if manifest.pipeline != PIPELINE_VERSION:
        return Plan(f"the document reading rules changed (version {manifest.pipeline} -> {PIPELINE_VERSION}), "
                    "so every document is read again", True, files, every, skipped=skipped)
    damage = store.damage()
    if not damage:
        if manifest.fingerprint == fingerprint(files):
            return None
        # An update copies the build's passages, vectors and words into the next one: damage that left a file's size
        # and time as they were (a bit flipped on disk) must not be carried there under a new, valid checksum.
        damage = store.damage(every_byte=True)
    if damage:  # the current build cannot be trusted, nor derived from
        return Plan(f"the index is damaged ({damage}), so it is built again", True, files, every, skipped=skipped)
    indexed = {row.document: row.sha256 for row in store.document_rows()}
    read = [p for p in every if indexed.get(p) != files[p]]
    removed = sorted(p for p, sha in indexed.items() if files.get(p) != sha)
    new = sum(p not in indexed for p in read)
    counts = [f"{new} new", f"{len(read) - new} changed", f"{sum(p not in files for p in removed)} removed"]
    return Plan(f"documents changed: {', '.join(counts)}", False, files, read, removed, skipped=skipped)


def execute(plan: Plan, data_dir: Path, store: Store, cache_path: Path, embedder: Embedder,
            limits: ReadLimits = ReadLimits(), progress: Progress | None = None) -> Outcome:
    """Carry out a plan: read its files, split and embed them (cache first), commit the new build.

    Whatever fails for one document (reading, splitting, embedding) leaves that document out with one warning.
    """
    report = progress or (lambda stage, done, total: None)
    paths = [Path(data_dir) / p for p in plan.read]
    reading = read_documents(Path(data_dir), paths, limits, lambda done, total: report("read", done, total))
    documents, skipped = reading.documents, plan.skipped + reading.skipped
    pieces: dict[str, list[Passage]] = {}
    texts: dict[str, list[str]] = {}  # each document's passage and clause texts, to embed
    for n, doc in enumerate(documents, 1):
        try:
            passages = split_passages(doc)
            texts[doc.document] = [p.text for p in passages] + [p.text[a:b] for p in passages
                                                                for a, b in clause_spans(p.text)]
            pieces[doc.document] = passages
        except Exception as exc:  # noqa: BLE001 - one document's failure must not sink the build
            skipped.append(Skipped(doc.document, f"{doc.document} could not be split into passages "
                                             f"({type(exc).__name__}: {exc})."))
        report("split", n, len(documents))
    cache = EmbeddingCache(cache_path, cache_key(embedder), embedder.dim)
    try:
        embedded = embed_with_cache([t for ts in texts.values() for t in ts], embedder, cache, plan.use_cache,
                                    lambda done, total: report("embed", done, total))
        for path, ts in texts.items():
            failure = next((embedded.failed[text_hash(t)] for t in ts if text_hash(t) in embedded.failed), None)
            if failure:
                skipped.append(Skipped(path, f"{path} could not be embedded ({failure})."))
                del pieces[path]
        for file in skipped:
            log.warning("%s", file)
        kept = [] if plan.full else [d for d in store.document_rows() if d.document not in set(plan.removed)]
        new_documents = [DocumentRow(d.document, d.meta, plan.files[d.document]) for d in documents
                         if d.document in pieces]
        all_documents = sorted(kept + new_documents, key=lambda d: d.document)
        if not all_documents:
            raise QAError(f"No readable documents in {data_dir}: put .txt, .md, .html, .pdf or .docx files there.")
        next_id = 0 if plan.full else store.next_id()
        passages = [replace(p, id=next_id + i) for i, p in enumerate(p for ps in pieces.values() for p in ps)]
        table = clause_table(passages)
        text_of = {p.id: p.text for p in passages}
        clause_texts = [text_of[pid][a:b] for pid, a, b, _ in table]
        report("write", 0, 1)
        manifest = store.commit(Change(
            full=plan.full,
            spec=BuildSpec(model=embedder.name, dim=embedder.dim, fingerprint=fingerprint(plan.files),
                           pipeline=PIPELINE_VERSION),
            documents=all_documents, removed=plan.removed, passages=passages,
            vectors=embedded.matrix([p.text for p in passages], embedder.dim),
            clauses=Clauses.from_table(table, embedded.matrix(clause_texts, embedder.dim)),
        ))
        report("write", 1, 1)
        # After a full build the cache keeps what the index holds; after an update, vectors of passages that
        # left stay until the next full build (undoing an edit then costs nothing).
        if plan.full:
            cache.keep_only({text_hash(t) for t in [*text_of.values(), *clause_texts]})
    finally:
        cache.close()
    passage_hashes = {text_hash(p.text) for p in passages}
    return Outcome(len(all_documents), manifest.passages, len(passage_hashes & embedded.new), skipped,
                   manifest.lexical)


def cache_key(embedder: Embedder) -> str:
    """Whose vectors the cache holds: the model and the prompt it encodes passages with."""
    prompt = embedder.prompts.get("passage", "")
    return f"{embedder.name} {prompt!r}" if prompt else embedder.name


@dataclass
class Embedded:
    """Vectors by text hash; the texts that could not be embedded, with the reason; which ones were embedded now."""

    vectors: dict[str, np.ndarray]
    failed: dict[str, str]
    new: set[str]

    def matrix(self, texts: list[str], dim: int) -> np.ndarray:
        """The vectors of these texts, one row each."""
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([self.vectors[text_hash(t)] for t in texts]).astype(np.float32)


def embed_with_cache(texts: list[str], embedder: Embedder, cache: EmbeddingCache, use_cache: bool = True,
                     on_embed: Callable[[int, int], None] | None = None) -> Embedded:
    """Vectors for texts, embedding only those the cache lacks (all, without use_cache).

    A batch that fails is embedded again text by text (qa.embed.base.embed_each), so only the texts that fail alone
    are lost.
    """
    hashes = [text_hash(t) for t in texts]
    known = cache.get(hashes) if use_cache else {}
    text_of = dict(zip(hashes, texts))
    # By length, so each batch pads its texts to similar lengths (BENCHMARKS.md, indexing throughput).
    missing = sorted(dict.fromkeys(h for h in hashes if h not in known), key=lambda h: len(text_of[h]))
    failed: dict[str, str] = {}
    done = 0
    # Each part goes into the cache as it comes, so a build stopped half way starts again from there.
    for part in embedder.embed_parts([text_of[h] for h in missing], "passage"):
        failed.update((missing[p], reason) for p, reason in part.failed.items())
        pairs = [(missing[p], v) for p, v in zip(part.positions, part.vectors) if p not in part.failed]
        cache.put([h for h, _ in pairs], np.array([v for _, v in pairs]))
        known.update(pairs)
        done += len(part.positions)
        if on_embed:
            on_embed(done, len(missing))
    if missing and len(failed) == len(missing):  # nothing embeds: the model is broken, not the documents
        raise QAError(f"The model failed on every text, so nothing was indexed ({next(iter(failed.values()))}); "
                      "check the model (QA_MODEL, QA_EMBEDDER) and run `qa index` again.")
    return Embedded(known, failed, set(missing) - failed.keys())


@contextmanager
def build_lock(index_dir: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the index folder, so two processes never build at once; `on_wait()` is called
    before waiting for another process's build."""
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock = open(index_dir / LOCK_FILE, "a")
    except OSError as e:
        raise IndexWriteError(f"The index in {index_dir} could not be written ({e.strerror or e}). Free some disk "
                              "space or make the folder writable, then run `qa index`.") from e
    with lock as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Another process is building the index in %s; waiting for it to finish.", index_dir)
            if on_wait:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
