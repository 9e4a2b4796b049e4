"""Open the store a setting names: FAISS folders (the default) or Milvus."""

from __future__ import annotations

from pathlib import Path

from qa.core.errors import QAError
from qa.core.settings import DEFAULT_INDEX_MEMORY_MB, DEFAULT_STORE
from qa.index.base import Store


def open_store(setting: str | None, index_dir: str | Path, memory_budget: int = DEFAULT_INDEX_MEMORY_MB << 20) -> Store:
    """The store `setting` names: "faiss" (default), "milvus:PATH.db" (Milvus Lite) or "milvus://HOST:PORT".

    `memory_budget` is the bytes a vector index may take before a compressed kind is chosen (qa.index.ann).
    """
    setting = (setting or DEFAULT_STORE).strip()
    if setting == "faiss":
        from qa.index.faiss_store import FolderStore

        return FolderStore(Path(index_dir), memory_budget)
    if setting.startswith("milvus:"):
        from qa.index.milvus_store import milvus_store

        return milvus_store(setting.removeprefix("milvus:"), Path(index_dir), memory_budget)
    raise QAError(f"Unknown store {setting!r}: use faiss, milvus:PATH.db (Milvus Lite) or milvus://HOST:PORT.")
