"""The Milvus store: vectors, passage texts, metadata and manifest in Milvus, no local state.

Milvus Lite (a local `.db` folder served inside this process) and a Milvus server or cluster speak
the same pymilvus API. A build is three collections named after its build id:

    <build>               passages: id, vector, text (BM25 full-text where supported), metadata
    <build>__clauses      clauses: passage id, document, span, vector (rounded to float16, as FAISS keeps them)
    <build>__documents    documents: metadata, sha256, passage count, highest passage id

The manifest is a property of the passages collection, and also the documents row with path ""
(Milvus 2.3 loses collection properties when it restarts), and the alias `<name>` names the current
build's passages collection. A full build fills new collections and then moves the alias, so
readers see the old build or the new one; the build it replaced is kept until the next full
build, so a replica still reading it finishes its question. An update changes the current build in
place (Milvus has no multi-row transactions): deletes, inserts, documents, and the manifest last.
An interrupted update is repaired by the next one, which first deletes whatever it is about to
write again.

Every call to Milvus has a deadline (QUESTION_SECONDS for what a question does, BUILD_SECONDS for
building), and whatever Milvus or gRPC raises becomes one QAError sentence: StoreUnavailable when
the server cannot be reached, did not answer in time or is still loading (the web API's 503).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.core.errors import QAError, StoreUnavailable
from qa.core.settings import DEFAULT_INDEX_MEMORY_MB
from qa.index.ann import IndexChoice, choose_faiss_index
from qa.index.base import (
    FORMAT_VERSION,
    META_FIELDS,
    Change,
    Clauses,
    Collection,
    DocumentInfo,
    DocumentRow,
    Manifest,
    Store,
    StoredPassage,
)
from qa.index.lexical import tokenize
from qa.read.documents import DocumentMeta

METRIC = "IP"  # inner product over normalized vectors, i.e. cosine, as in the FAISS store
MANIFEST_KEY = "qa.manifest"
# Milvus 2.3 forgets collection properties when it restarts, so the manifest is also kept as the documents
# collection's row with this path (in its `title`), and read from there when the property is missing.
MANIFEST_ROW = ""
DOCUMENTS_ONLY = f'path != "{MANIFEST_ROW}"'
# jieba exists in Milvus >= 2.5 and in Milvus Lite; the server needs the lowercase filter, Lite lowercases anyway.
ANALYZER = {"tokenizer": "jieba", "filter": ["lowercase"]}
MAX_VARCHAR = 65535
MAX_LIMIT = 16384  # Milvus's cap on top-k and on the rows of one query
WRITE_BATCH = 1000  # rows per insert
READ_BATCH = 200  # ids per query filter
DOCUMENT_DIM = 2  # Milvus wants a vector in every collection; the documents' is unused
QUESTION_SECONDS = 10  # the deadline of each call a question makes: a hung server must not hold it for minutes
BUILD_SECONDS = 600  # ... and of each call a build makes (creating, filling and flushing collections)
# Milvus status codes that mean "not now" rather than "never": connecting failed, the collection is not
# loaded yet (for a while after a server restart), too many requests.
_UNAVAILABLE_CODES = {2, 8, 101}
NO_PAGE = -1  # `page` of a passage without one: Milvus < 2.5 has no nullable fields (2.3 drops nullable=True silently)
_MILVUS_INDEX = {"flat": "FLAT", "ivf-flat": "IVF_FLAT", "ivf-sq8": "IVF_SQ8", "ivf-pq": "IVF_PQ"}
# The collections' field names: a document's key is `doc` in passages and clauses, `path` in documents;
# passages carry their document's metadata but its editor.
_PASSAGE_META = [name for name in META_FIELDS if name != "editor"]
_PASSAGE_FIELDS = ["doc", "position", "text", "start", "end", "heading", "page", *_PASSAGE_META]
_DOCUMENT_FIELDS = ["path", *META_FIELDS, "sha256"]


def _version(version: str) -> tuple[int, int]:
    match = re.search(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def supports_full_text(version: str) -> bool:
    """Whether a Milvus server version ("v2.5.4", "milvus_lite-3.2.2") has BM25 full-text search (2.5 and later)."""
    return _version(version) >= (2, 5)


def int_index_type(version: str) -> str:
    """The scalar index for an INT64 field: Milvus < 2.4 ("v2.3.5", "v2.3.5-lite") has only STL_SORT,
    Milvus Lite ("milvus_lite-3.2.2") only INVERTED."""
    return "STL_SORT" if not version.startswith("milvus_lite") and _version(version) < (2, 4) else "INVERTED"


def collection_name(index_dir: Path) -> str:
    """The alias an index folder's name stands for in Milvus: letters, digits and underscores."""
    name = re.sub(r"\W", "_", Path(index_dir).resolve().name, flags=re.ASCII)[:100] or "qa"
    return name if not name[0].isdigit() else "_" + name


def require_client(lite: bool) -> None:
    """Say which extra to install when the Milvus client packages (the `milvus` extra) are missing."""
    import importlib.util

    missing = [name for name in ("pymilvus", "milvus_lite" if lite else "") if name and not importlib.util.find_spec(name)]
    if missing:
        raise QAError(f"A Milvus store needs {' and '.join(missing)}, which the 'milvus' extra installs: "
                      "pip install -e '.[milvus]' (in a checkout of qa).")


def milvus_store(target: str, index_dir: Path, memory_budget: int = DEFAULT_INDEX_MEMORY_MB << 20) -> "MilvusStore":
    """The store a `milvus:TARGET` setting names: a Lite file (PATH.db) or a server (//HOST:PORT, http(s)://...)."""
    require_client(lite=target.endswith(".db"))
    name = collection_name(index_dir)
    if target.startswith(("//", "http://", "https://")):
        return MilvusStore(server_url(target), name, shared=True, memory_budget=memory_budget)
    if target.endswith(".db"):
        return MilvusStore(str(Path(target).resolve()), name, shared=False, memory_budget=memory_budget)
    raise QAError(f"Cannot read the store setting milvus:{target}: use milvus:PATH.db for a Milvus Lite file "
                  "or milvus://HOST:PORT for a Milvus server.")


def server_url(target: str) -> str:
    """The URL of the server a `milvus:TARGET` setting names (//HOST:PORT or an http(s) URL), checked: a host, and
    a port that is a port number."""
    from urllib.parse import urlsplit

    url = "http:" + target if target.startswith("//") else target
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as e:
        raise QAError(f"The store setting milvus:{target} is not a server address ({e}): use milvus://HOST:PORT.") from None
    if not parts.hostname:
        raise QAError(f"The store setting milvus:{target} names no host: use milvus://HOST:PORT.")
    return url


def _quote(value) -> str:
    """A string or list as a Milvus filter literal (JSON's escaping is Milvus's)."""
    return json.dumps(value, ensure_ascii=False)


def _among(documents: list[str] | None) -> str:
    """The filter keeping the passages of these documents ('' keeps all)."""
    return "" if documents is None else f"doc in {_quote(list(documents))}"


def _id_list(ids) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


# Calls that write; they get BUILD_SECONDS, every other call QUESTION_SECONDS (unless the caller gives a timeout).
_WRITES = {"create_collection", "insert", "upsert", "delete", "flush", "alter_collection_properties", "create_alias",
           "alter_alias", "drop_collection", "drop_alias"}
_UNTIMED = {"close", "prepare_index_params", "create_schema"}


class GuardedClient:
    """A pymilvus client whose calls have a deadline and raise Milvus's and gRPC's errors as one QAError sentence."""

    def __init__(self, client, uri: str):
        self.raw, self.uri = client, uri

    def __getattr__(self, name: str):
        method = getattr(self.raw, name)
        if name in _UNTIMED or not callable(method):
            return method

        def call(*args, **kwargs):
            kwargs.setdefault("timeout", BUILD_SECONDS if name in _WRITES else QUESTION_SECONDS)
            try:
                return method(*args, **kwargs)
            except Exception as e:
                error = store_error(e, self.uri, name, kwargs["timeout"])
                if error is None:
                    raise
                raise error from e

        return call


def store_error(e: Exception, uri: str, operation: str, seconds: float | None = None) -> QAError | None:
    """A Milvus or gRPC error as one sentence saying what to do (StoreUnavailable when trying later may work)."""
    import grpc
    from pymilvus.exceptions import MilvusException, MilvusUnavailableException

    if isinstance(e, grpc.RpcError) and hasattr(e, "code"):
        code = e.code()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            detail = f"no answer to {operation} within {seconds:g} s" if seconds else f"{operation} timed out"
        else:
            detail = f"{operation}: {code.name}, {e.details()}"
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return QAError(f"Milvus at {uri} cannot do {operation} ({detail}): use Milvus 2.3 or later.")
    elif isinstance(e, MilvusException):
        detail = f"{operation}: {e.message} (code {e.code})"
        transient = (isinstance(e, MilvusUnavailableException) or e.code in _UNAVAILABLE_CODES
                     or "timeout" in e.message.lower() or "DEADLINE_EXCEEDED" in e.message)
        if not transient:
            # a damaged Lite file fails --rebuild too (its own catalogue is what is damaged): a new file is the fix
            repair = ("run `qa index --rebuild` with this --store" if uri.startswith(("http://", "https://"))
                      else f"move {uri} away and run `qa index` to build a new one")
            return QAError(f"Milvus at {uri} refused {operation} ({e.message}, code {e.code}); if the index is "
                           f"damaged, {repair}.")
    else:
        return None
    return StoreUnavailable(f"Milvus at {uri} is unavailable ({detail}): check that the server is running and "
                            "reachable; ask again once it is.")


class MilvusCollection(Collection):
    """One build's collections, opened for search."""

    def __init__(self, client, manifest: Manifest, lexical: bool, search_params: dict, size: int):
        self.client, self.manifest = client, manifest
        self.passages_name = manifest.build
        self.clauses_name = f"{manifest.build}__clauses"
        self.documents_name = f"{manifest.build}__documents"
        self.has_lexical = lexical
        self.search_params = search_params
        self._size = size

    def dense(self, query: np.ndarray, k: int, documents: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        hits = self.client.search(self.passages_name, data=[np.asarray(query, np.float32).tolist()],
                                  anns_field="vector", limit=max(1, min(k, MAX_LIMIT)), output_fields=["id"],
                                  filter=_among(documents),
                                  search_params={"metric_type": METRIC, "params": self.search_params})[0]
        return (np.array([h["id"] for h in hits], dtype=np.int64),
                np.array([h["distance"] for h in hits], dtype=np.float32))

    def lexical(self, question: str, k: int, documents: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_lexical or not question.strip():
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        hits = self.client.search(self.passages_name, data=[question], anns_field="sparse",
                                  limit=max(1, min(k, MAX_LIMIT)), output_fields=["id"], filter=_among(documents),
                                  search_params={"metric_type": "BM25"})[0]
        # abs: Milvus Lite 3.2 reports BM25 scores negated, the server positive; the order is right in both.
        return (np.array([h["id"] for h in hits], dtype=np.int64),
                np.array([abs(h["distance"]) for h in hits], dtype=np.float32))

    def cosines(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        vectors = self._vectors(ids)
        return vectors @ np.asarray(query, dtype=np.float32)

    def _vectors(self, ids: np.ndarray) -> np.ndarray:
        found = {}
        for chunk in _chunks([int(i) for i in ids], READ_BATCH):
            found.update((r["id"], r["vector"]) for r in self.client.get(self.passages_name, ids=chunk,
                                                                         output_fields=["vector"]))
        return np.array([found[int(i)] for i in ids], dtype=np.float32).reshape(len(ids), self.manifest.dim)

    def clauses(self, ids: np.ndarray) -> Clauses:
        rows = []
        for chunk in _chunks([int(i) for i in ids], READ_BATCH):
            rows += self.client.query(self.clauses_name, filter=f"passage_id in {_id_list(chunk)}",
                                      output_fields=["passage_id", "start", "end", "kinds", "vector"], limit=MAX_LIMIT)
        if not rows:
            return Clauses.empty(self.manifest.dim)
        rows.sort(key=lambda r: (r["passage_id"], r["start"]))
        table = np.array([(r["passage_id"], r["start"], r["end"], r["kinds"]) for r in rows], dtype=np.int64)
        return Clauses.from_table(table, np.array([r["vector"] for r in rows], dtype=np.float32))

    def word_weights(self, question: str) -> dict[str, float]:
        # Milvus keeps its BM25 statistics to itself: every question word weighs 1 (the FAISS store uses idf).
        return dict.fromkeys(tokenize(question), 1.0)

    def passages(self, ids: list[int]) -> dict[int, StoredPassage]:
        found = {}
        for chunk in _chunks([int(i) for i in ids], READ_BATCH):
            for r in self.client.get(self.passages_name, ids=chunk, output_fields=_PASSAGE_FIELDS):
                found[r["id"]] = _stored(r)
        return found

    def around(self, document: str, position: int, radius: int) -> list[StoredPassage]:
        rows = self.client.query(
            self.passages_name, output_fields=_PASSAGE_FIELDS, limit=MAX_LIMIT,
            filter=f"doc == {_quote(document)} and position >= {position - radius} "
                   f"and position <= {position + radius} and position != {position}",
        )
        return sorted((_stored(r) for r in rows), key=lambda p: p.position)

    def document_passages(self, document: str) -> list[StoredPassage]:
        rows = self.client.query(self.passages_name, output_fields=_PASSAGE_FIELDS, limit=MAX_LIMIT,
                                 filter=f"doc == {_quote(document)}")
        return sorted((_stored(r) for r in rows), key=lambda p: p.position)

    def documents(self) -> list[DocumentInfo]:
        rows = _all_rows(self.client, self.documents_name, ["path", *_PASSAGE_META, "passages"], DOCUMENTS_ONLY)
        return sorted((DocumentInfo(r["path"], _meta(r, _PASSAGE_META), r["passages"]) for r in rows),
                      key=lambda d: d.document)

    def size_bytes(self) -> int:
        return self._size


class MilvusStore(Store):
    """Builds as Milvus collections at `uri`, the current one named by the alias `name`.

    `shared` (a server, not a Lite file): many services read it, only `qa index` builds it.
    """

    def __init__(self, uri: str, name: str, shared: bool, memory_budget: int = DEFAULT_INDEX_MEMORY_MB << 20):
        self.uri, self.name, self.shared = uri, name, shared
        self.memory_budget = memory_budget  # bytes the vector index may take before it is compressed

    def describe(self) -> str:
        return f"Milvus collection {self.name} at {self.uri}"

    @cached_property
    def client(self):
        """The pymilvus client; for a Lite file this starts its server in this process."""
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        # pymilvus sets up its own logger when first imported (here, after qa.core.logs), and logs every failed call with
        # tracebacks; each of those errors reaches the caller as one QAError sentence instead.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        if not self.shared:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        # Lite's server refuses pymilvus's default 10 s keepalive pings, and says so on stderr.
        options = {"grpc_options": {"grpc.keepalive_time_ms": 300_000}} if not self.shared else {}
        try:
            return GuardedClient(MilvusClient(self.uri, timeout=QUESTION_SECONDS, **options), self.uri)
        except MilvusException as e:
            if self.shared:
                raise StoreUnavailable(f"Cannot open Milvus at {self.uri} ({e.message}): check that the server is "
                                       "running and reachable; ask again once it is.") from e
            raise QAError(f"Cannot open Milvus at {self.uri} ({e.message}). Milvus Lite serves one process at a "
                          "time: is another one using it?") from e

    def close(self) -> None:
        """Close the connection, and stop the Lite server this process started for the file."""
        if "client" not in self.__dict__:
            return
        self.client.close()
        del self.__dict__["client"]
        if not self.shared:
            from milvus_lite import server_manager_instance

            server_manager_instance.release_server(self.uri)

    def _current(self) -> str | None:
        """The passages collection the alias names, or None."""
        if self.name not in self.client.list_aliases()["aliases"]:
            return None
        return self.client.describe_alias(self.name)["collection_name"]

    def read_manifest(self) -> Manifest | None:
        build = self._current()
        if build is None:
            return None
        raw = self.client.describe_collection(build)["properties"].get(MANIFEST_KEY)
        if raw is None:
            rows = self.client.get(f"{self._loaded(build)}__documents", ids=[MANIFEST_ROW], output_fields=["title"])
            raw = rows[0]["title"] if rows else ""
        try:
            return Manifest.from_json(json.loads(raw))
        except (ValueError, TypeError) as e:
            raise QAError(f"The manifest of {self.describe()} is damaged ({e}); {self._rebuild_hint()}.") from e

    def _require_manifest(self) -> Manifest:
        manifest = self.read_manifest()
        if manifest is None:
            raise QAError(f"There is no index in {self.describe()}; run `qa index --store milvus:...` to build it.")
        return manifest

    def _rebuild_hint(self) -> str:
        return "run `qa index --rebuild` with this --store"

    def _loaded(self, build: str) -> str:
        """The build, its collections loaded first if they are not: a server after a restart, or the Lite server a
        new process starts, has them released, and reads need them loaded."""
        for name in (build, f"{build}__clauses", f"{build}__documents"):
            if str(self.client.get_load_state(name)["state"]) != "Loaded":
                self.client.load_collection(name)
        return build

    def document_rows(self) -> list[DocumentRow]:
        documents = f"{self._loaded(self._require_manifest().build)}__documents"
        rows = _all_rows(self.client, documents, _DOCUMENT_FIELDS, DOCUMENTS_ONLY)
        return sorted((DocumentRow(r["path"], _meta(r, META_FIELDS), r["sha256"]) for r in rows),
                      key=lambda d: d.document)

    def next_id(self) -> int:
        documents = f"{self._loaded(self._require_manifest().build)}__documents"
        rows = _all_rows(self.client, documents, ["last_id"], DOCUMENTS_ONLY)
        return max((r["last_id"] for r in rows), default=-1) + 1

    def commit(self, change: Change) -> Manifest:
        if change.full:
            return self._build(change)
        return self._update(change)

    def _build(self, change: Change) -> Manifest:
        """A new build in new collections, then the alias moved to it; builds older than the replaced one dropped."""
        dim = change.spec.dim
        choice = choose_faiss_index(len(change.passages), dim, self.memory_budget)
        version = self.client.get_server_version()
        lexical = supports_full_text(version)
        build = f"{self.name}__{datetime.now(timezone.utc):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
        self._create(build, dim, choice, lexical, int_index_type(version))
        counts = _counts(change)
        self._insert(build, change, counts)
        manifest = self._write_manifest(build, change, len(change.passages), choice.spec, lexical)
        replaced = self._current()
        if replaced is None:
            self.client.create_alias(build, self.name)
        else:
            self.client.alter_alias(build, self.name)
        for old in self._builds():
            if old not in (build, replaced):
                for suffix in ("", "__clauses", "__documents"):
                    self.client.drop_collection(old + suffix)
        return manifest

    def _update(self, change: Change) -> Manifest:
        """The current build changed in place: the removed documents' rows out, the new ones in, the manifest last."""
        current = self._require_manifest()
        build = self._loaded(current.build)
        documents = {d.document: d for d in change.documents}
        before = {r["path"]: r for r in _all_rows(self.client, f"{build}__documents", ["path", "passages", "last_id"],
                                                  DOCUMENTS_ONLY)}
        first_new = max((r["last_id"] for r in before.values()), default=-1) + 1
        written = set(change.removed) | {p.document for p in change.passages} | (documents.keys() - before.keys())
        # Also whatever an interrupted update left past the ids in use, so this update can be repeated.
        gone = _quote(sorted(written))
        self.client.delete(build, filter=f"doc in {gone} or id >= {first_new}")
        self.client.delete(f"{build}__clauses", filter=f"doc in {gone} or passage_id >= {first_new}")
        counts = _counts(change)
        for path, row in before.items():
            if path in documents and path not in written:
                counts[path] = _Count(row["passages"], row["last_id"])
        self._insert(build, change, counts, only=written)
        stale = [p for p in before if p not in documents]
        if stale:
            self.client.delete(f"{build}__documents", filter=f"path in {_quote(stale)}")
        return self._write_manifest(build, change, sum(c.passages for c in counts.values()), current.vector_index,
                                    current.lexical)

    def _insert(self, build: str, change: Change, counts: dict[str, "_Count"], only: set[str] | None = None):
        """Write the change's passages and clauses, and its documents (those in `only`, if given)."""
        meta = {d.document: asdict(d.meta) for d in change.documents}
        passage_rows = [
            {"id": p.id, "vector": v.tolist(), "doc": p.document, "position": p.position, "text": p.text,
             "start": p.start, "end": p.end, "heading": p.heading, "page": NO_PAGE if p.page is None else p.page,
             **{name: meta[p.document][name] for name in _PASSAGE_META}}
            for p, v in zip(change.passages, np.asarray(change.vectors, dtype=np.float32))
        ]
        doc_of = {p.id: p.document for p in change.passages}
        # Rounded to float16, as the FAISS store keeps clause vectors: both stores then score alike.
        clause_vectors = np.asarray(change.clauses.vectors, dtype=np.float16).astype(np.float32)
        clause_rows = [
            {"passage_id": int(pid), "doc": doc_of[int(pid)], "start": int(a), "end": int(b), "kinds": int(kinds),
             "vector": v.tolist()}
            for (pid, a, b, kinds), v in zip(change.clauses.table(), clause_vectors)
        ]
        document_rows = [
            {"path": d.document, **asdict(d.meta), "sha256": d.sha256, **asdict(counts[d.document]),
             "vector": [0.0] * DOCUMENT_DIM}
            for d in change.documents if only is None or d.document in only
        ]
        for chunk in _chunks(passage_rows, WRITE_BATCH):
            self.client.insert(build, chunk)
        for chunk in _chunks(clause_rows, WRITE_BATCH):
            self.client.insert(f"{build}__clauses", chunk)
        for chunk in _chunks(document_rows, WRITE_BATCH):
            self.client.upsert(f"{build}__documents", chunk)  # replaces a changed document's row
        _side_by_side(self.client.flush, [build + suffix for suffix in ("", "__clauses", "__documents")])

    def _write_manifest(self, build: str, change: Change, passages: int, vector_index: str,
                        lexical: bool) -> Manifest:
        manifest = Manifest(
            format_version=FORMAT_VERSION, passages=passages, documents=len(change.documents), build=build,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"), vector_index=vector_index,
            lexical=lexical, **asdict(change.spec),
        )
        raw = json.dumps(asdict(manifest), ensure_ascii=False)
        self.client.upsert(f"{build}__documents", [{**dict.fromkeys(_DOCUMENT_FIELDS, ""), "path": MANIFEST_ROW,
                                                    "title": raw, "passages": 0, "last_id": -1,
                                                    "vector": [0.0] * DOCUMENT_DIM}])
        # A server's reads are Bounded (pymilvus's default): they do not wait for the query node to apply the
        # latest inserts and deletes. One Strong read per collection waits for that, so every read after the
        # manifest below sees this change (Strong on every read would cost ~200 ms each on Milvus 2.3).
        for suffix in ("", "__clauses", "__documents"):
            self.client.query(build + suffix, filter="", output_fields=["count(*)"], consistency_level="Strong",
                              timeout=BUILD_SECONDS)
        self.client.alter_collection_properties(build, {MANIFEST_KEY: raw})
        return manifest

    def _create(self, build: str, dim: int, choice: IndexChoice, lexical: bool, int_index: str) -> None:
        """The three empty collections of a build, indexed and loaded."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        def varchar(schema, name, **extra):
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR, **extra)

        passages = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        passages.add_field("id", DataType.INT64, is_primary=True)
        passages.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        for name in ("doc", "heading", "title", "source", "author", "date"):
            varchar(passages, name)
        varchar(passages, "text", **({"enable_analyzer": True, "analyzer_params": ANALYZER} if lexical else {}))
        for name in ("position", "start", "end"):
            passages.add_field(name, DataType.INT64)
        passages.add_field("page", DataType.INT64)  # NO_PAGE for none
        passage_index = self.client.prepare_index_params()
        passage_index.add_index("vector", index_type=_MILVUS_INDEX[choice.kind], metric_type=METRIC,
                                params=_build_params(choice))
        if lexical:
            passages.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            passages.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                           input_field_names=["text"], output_field_names=["sparse"]))
            passage_index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")

        clauses = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
        clauses.add_field("id", DataType.INT64, is_primary=True)
        clauses.add_field("passage_id", DataType.INT64)
        varchar(clauses, "doc")
        clauses.add_field("start", DataType.INT64)
        clauses.add_field("end", DataType.INT64)
        clauses.add_field("kinds", DataType.INT64)
        clauses.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        clause_index = self.client.prepare_index_params()
        clause_index.add_index("vector", index_type="FLAT", metric_type=METRIC)  # read by passage id, never searched
        clause_index.add_index("passage_id", index_type=int_index)

        documents = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        varchar(documents, "path", is_primary=True)
        for name in _DOCUMENT_FIELDS[1:]:
            varchar(documents, name)
        documents.add_field("passages", DataType.INT64)
        documents.add_field("last_id", DataType.INT64)  # the document's highest passage id, -1 without passages
        documents.add_field("vector", DataType.FLOAT_VECTOR, dim=DOCUMENT_DIM)
        document_index = self.client.prepare_index_params()
        document_index.add_index("vector", index_type="FLAT", metric_type=METRIC)

        _side_by_side(lambda args: self.client.create_collection(args[0], schema=args[1], index_params=args[2]),
                      [(build, passages, passage_index), (f"{build}__clauses", clauses, clause_index),
                       (f"{build}__documents", documents, document_index)])

    def _builds(self) -> list[str]:
        """The passages collections of every build under this name."""
        pattern = re.compile(re.escape(self.name) + r"__\d{8}T\d{6}_[0-9a-f]{8}")
        return [c for c in self.client.list_collections() if pattern.fullmatch(c)]

    def open(self) -> MilvusCollection:
        manifest = self._require_manifest()
        if manifest.format_version != FORMAT_VERSION:
            raise QAError(f"The index in {self.describe()} has format {manifest.format_version}, this version reads "
                          f"{FORMAT_VERSION}; {self._rebuild_hint()}.")
        names = [manifest.build, f"{manifest.build}__clauses", f"{manifest.build}__documents"]
        missing = [n for n in names if not self.client.has_collection(n)]
        if missing:
            raise QAError(f"The index in {self.describe()} is damaged (missing {', '.join(missing)}); "
                          f"{self._rebuild_hint()}.")
        schema = self.client.describe_collection(manifest.build)
        dims = [f["params"].get("dim") for f in schema["fields"] if f["name"] == "vector"]
        if dims != [manifest.dim]:
            raise QAError(f"The index in {self.describe()} does not match its manifest; {self._rebuild_hint()}.")
        self._loaded(manifest.build)
        lexical = any(f["name"] == "sparse" for f in schema["fields"])
        return MilvusCollection(self.client, manifest, lexical, _search_params(manifest.vector_index),
                                self._size_bytes(manifest))

    def _size_bytes(self, manifest: Manifest) -> int:
        """A Lite file's size on disk; for a server, the passage vectors' size (the server does not say more)."""
        if self.shared:
            return manifest.passages * manifest.dim * 4
        return sum(f.stat().st_size for f in Path(self.uri).rglob("*") if f.is_file())


def _build_params(choice: IndexChoice) -> dict:
    if choice.kind == "flat":
        return {}
    return {"nlist": choice.nlist, **({"m": choice.pq_m, "nbits": 8} if choice.kind == "ivf-pq" else {})}


def _search_params(spec: str) -> dict:
    """Search parameters from the manifest's index spec: nprobe for IVF."""
    match = re.search(r"nprobe=(\d+)", spec)
    return {"nprobe": int(match[1])} if match else {}


@dataclass
class _Count:
    """A document's passages in a build: how many, and the highest passage id (-1 without any)."""

    passages: int = 0
    last_id: int = -1


def _counts(change: Change) -> dict[str, _Count]:
    """Each document's count, from the change's new passages."""
    counts = {d.document: _Count() for d in change.documents}
    for p in change.passages:
        count = counts[p.document]
        count.passages, count.last_id = count.passages + 1, max(count.last_id, p.id)
    return counts


def _stored(r: dict) -> StoredPassage:
    page = r["page"]  # None in builds made with a nullable page
    return StoredPassage(id=r["id"], document=r["doc"], position=r["position"], text=r["text"], start=r["start"],
                         end=r["end"], heading=r["heading"], page=None if page in (None, NO_PAGE) else page,
                         meta=_meta(r, _PASSAGE_META))


def _meta(r: dict, names: list[str]) -> DocumentMeta:
    return DocumentMeta(**{name: r[name] for name in names})


def _all_rows(client: GuardedClient, collection: str, output_fields: list[str], filter: str = "") -> list[dict]:
    """Every row of a collection (that `filter` keeps), in batches (one query is capped at MAX_LIMIT rows)."""
    iterator = client.query_iterator(collection, batch_size=WRITE_BATCH, filter=filter, output_fields=output_fields)
    rows = []
    try:
        while batch := iterator.next():
            rows += batch
    except Exception as e:  # the iterator's own calls are not the guarded client's
        error = store_error(e, client.uri, "query_iterator", QUESTION_SECONDS)
        if error is None:
            raise
        raise error from e
    finally:
        iterator.close()
    return rows


def _side_by_side(call, items: list) -> None:
    """call(item) for every item at once: a server works on them in parallel (Milvus 2.3 takes ~3 s to create a
    collection and ~1.3 s to flush one, 3x that in turn)."""
    with ThreadPoolExecutor(len(items)) as pool:
        list(pool.map(call, items))


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]
