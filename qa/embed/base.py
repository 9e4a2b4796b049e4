"""Passages and questions to vectors: the Embedder interface (one batch method), prompts, names, the question cache."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qa.core.settings import DEFAULT_MODEL
from qa.embed.device import CPU_BATCH

Kind = Literal["query", "passage"]
# Backends whose vectors differ from the torch model's beyond float noise: their indexes are kept apart.
_DISTINCT_VECTORS = {"onnx-int8": "+int8-matmul"}
QUERY_CACHE_SIZE = 256


class Embedder(ABC):
    """Turns texts into L2-normalized float32 vectors."""

    name: str
    dim: int
    prompts: Mapping[str, str] = {}  # the text put before each kind ("query", "passage"); none unless set
    device: str = "cpu"  # where it runs: "cpu" or "cuda"
    batch_size: int = CPU_BATCH  # texts a build hands `embed` at once (larger on a GPU)

    @abstractmethod
    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Embed a batch of questions (`kind="query"`) or passages; shape (len(texts), dim)."""

    def embed_parts(self, texts: list[str], kind: Kind) -> Iterator[Part]:
        """Embed a long job part by part (`batch_size` texts each, in order here; in any order on a cluster)."""
        for start in range(0, len(texts), self.batch_size):
            yield embed_each(self, texts[start : start + self.batch_size], kind, start)


@dataclass
class Part:
    """Vectors for some of a long job's texts, by position in it; the texts that failed alone, with the reason."""

    positions: list[int]
    vectors: np.ndarray  # one row per position; the rows of failed texts are zeros
    failed: dict[int, str] = field(default_factory=dict)  # position -> why that text could not be embedded


def embed_each(embedder: Embedder, texts: list[str], kind: Kind, start: int = 0) -> Part:
    """The texts embedded as one batch; if the batch fails, text by text, so only the texts that fail alone are lost.

    Their positions count from `start`.
    """
    positions = list(range(start, start + len(texts)))
    try:
        return Part(positions, np.asarray(embedder.embed(texts, kind), dtype=np.float32))
    except Exception:  # noqa: BLE001 - find the texts that fail alone
        pass
    vectors, failed = np.zeros((len(texts), embedder.dim), dtype=np.float32), {}
    for row, text in enumerate(texts):
        try:
            vectors[row] = embedder.embed([text], kind)[0]
        except Exception as exc:  # noqa: BLE001
            failed[start + row] = f"{type(exc).__name__}: {exc}"
    return Part(positions, vectors, failed)


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

    @property
    def device(self) -> str:
        return self.inner.device

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    def embed_parts(self, texts: list[str], kind: Kind) -> Iterator[Part]:
        """The inner embedder's: a cluster embedder spreads them over its workers."""
        return self.inner.embed_parts(texts, kind)

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
