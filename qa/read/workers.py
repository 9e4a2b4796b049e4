"""The worker processes that read HTML, PDF and DOCX files: spawned fresh, memory-capped, and started without the
program's main script.

Python's spawn starts every worker by importing the parent's main script again, so that functions defined there can
be unpickled. A reading worker runs only qa's own functions, so that import is skipped: a user's script without an
`if __name__ == "__main__":` guard (or one read from stdin, or one that starts a server at import) would otherwise
run again in every worker, and build there, waiting for ever for the lock its parent holds.
"""

from __future__ import annotations

import multiprocessing.context
from multiprocessing import spawn

from qa.core.settings import ReadLimits

WORKERS = 2
_NAME = "qa-reading-worker"  # how the preparation data below tells these workers from any other process


def reading_pool(limits: ReadLimits, tasks: int):
    """A pebble pool for `tasks` files: workers capped at the memory limit; a worker past its deadline is killed."""
    from pebble import ProcessPool

    return ProcessPool(max_workers=min(WORKERS, tasks), context=_ReadingContext(),
                       initializer=_start_worker, initargs=(limits.memory_bytes,))


class _ReadingProcess(multiprocessing.context.SpawnProcess):
    """A spawned process under the name that leaves the main script out of its preparation data."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "name": _NAME})


class _ReadingContext(multiprocessing.context.SpawnContext):
    """spawn, not fork: the parent may hold model and OpenMP threads that a forked child must not inherit."""

    Process = _ReadingProcess


def _preparation_data(name: str, _standard=spawn.get_preparation_data) -> dict:
    """What a spawned child is told to set up before its task; for a reading worker, not the main script."""
    data = _standard(name)
    if name == _NAME:
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


# The one hook multiprocessing has into what a child imports first; every other process is prepared as before.
spawn.get_preparation_data = _preparation_data


def _start_worker(limit: int) -> None:
    """Set up a reading worker: bounded memory, and no log lines of its own (pypdf's "EOF marker not found"):
    what goes wrong reaches the parent as the exception, and the parent warns once."""
    import logging
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    logging.disable(logging.CRITICAL)
