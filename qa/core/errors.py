"""The one error type users see: its message says what went wrong and what to do."""


class QAError(Exception):
    """An error a user can cause or fix (bad file, empty question, wrong index); shown without a traceback."""


class IndexWriteError(QAError):
    """The index could not be written (disk full, read-only folder); the current index, if any, is intact."""


class NotReadyError(QAError):
    """The service is still building or loading its index in the background; ask again shortly."""


class StoreUnavailable(QAError):
    """The index's store (a Milvus server) cannot be reached or did not answer in time; asking again may work."""


class AnswerFailed(QAError):
    """The model or the store failed on one question (not the asker's fault); the service keeps serving."""
