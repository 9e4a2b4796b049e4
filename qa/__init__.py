"""Semantic question answering over a folder of documents.

One subpackage per stage of the pipeline, each importing only from the stages before it (tests/test_layout.py):

    core/       errors, text rules, answer kinds, logging, settings: what every stage shares
    read/       files in the data folder -> Document (plain text, HTML, PDF, DOCX)
    passages/   Document -> Passage, and their clauses
    embed/      texts -> vectors (the Embedder interface, its backends, the bundled model, the cache)
    index/      vectors and words kept and searched (Store/Collection, FAISS, Milvus, BM25, building it)
    answer/     question -> Result of Hit (candidates, scores, the answer span, the reader model)
    service.py  Service: the data folder and the index kept in step, answering
    surfaces/   the CLI, the web page and JSON API, the watcher, the evaluation; app.py at the top
"""

from qa.core.errors import QAError

__all__ = ["Service", "Settings", "Hit", "Answer", "Result", "BuildReport", "QAError"]
_LAZY = {"Service": "qa.service", "BuildReport": "qa.service", "Hit": "qa.answer.search", "Result": "qa.answer.search",
         "Answer": "qa.answer.span", "Settings": "qa.core.settings"}


def __getattr__(name: str):
    # Imported on first use, so `qa --help` and `import qa.core.errors` do not pay for numpy, faiss and the index code.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
