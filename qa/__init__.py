"""Semantic question answering over a folder of documents.

documents (ingest, formats) -> passages (chunking) -> vectors (embedding, cache) -> index (index, kept in
step with the data folder by sync) -> hits (search), tied together by `Service`.
"""

from qa.answer import Answer
from qa.errors import QAError
from qa.search import Hit, Result
from qa.service import BuildReport, Service

__all__ = ["Service", "Hit", "Answer", "Result", "BuildReport", "QAError"]
