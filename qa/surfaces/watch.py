"""Follow the data folder and update the index as files change (`qa index --watch`)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from qa.core.errors import QAError
from qa.service import BuildReport, Service
from qa.index.sync import Progress

log = logging.getLogger("qa")

CHECK_MS = 1000  # how often the watcher looks whether the data folder itself was deleted or swapped


def follow(service: Service, on_build: Callable[[BuildReport], None], stop: threading.Event | None = None,
           progress: Progress | None = None, on_state: Callable[[str], None] | None = None) -> None:
    """After each burst of changes under the data folder, update the index and pass on the report; until `stop`.

    A data folder that is deleted is waited for; one made again or swapped for another (`mv new data`) is
    followed from then on, with an update for what it holds. `on_state` hears "watching" once a watch on the
    folder is in place (a change from then on is seen) and "waiting" when the folder is gone.
    """
    on_state = on_state or (lambda state: None)
    from watchfiles import watch
    from watchfiles._rust_notify import WatchfilesRustInternalError

    stop = stop or threading.Event()
    folder, gone = service.data_dir, False
    while not stop.is_set():
        seen = _identity(folder)
        if seen is None:
            if not gone:
                log.error("error: the data folder %s is gone; waiting for it to come back.", folder)
                on_state("waiting")
            gone = True
            stop.wait(CHECK_MS / 1000)
            continue
        if gone:  # it came back
            _update(service, on_build, progress)
            gone = False
        watching = False
        try:
            for changes in watch(folder, stop_event=stop, debounce=500, step=100, rust_timeout=CHECK_MS,
                                 yield_on_timeout=True):
                if not watching:  # the first yield (a change or a timeout) comes from a watch in place
                    watching = True
                    on_state("watching")
                if _identity(folder) != seen:
                    break  # deleted or swapped: a watch on the old folder sees nothing more
                if changes:
                    _update(service, on_build, progress)
            else:
                return  # stopped
        except OSError:  # the folder went while the watch was being set up
            continue
        except WatchfilesRustInternalError as e:  # a change it cannot name (a file name that is not UTF-8)
            log.debug("The watch stopped (%s); starting it again.", e)
            _update(service, on_build, progress)  # the scan sees the change, and says which file it leaves out
            continue
        if _identity(folder) is not None:  # another folder in its place: index what it holds, then follow it
            _update(service, on_build, progress)


def _update(service: Service, on_build: Callable[[BuildReport], None], progress: Progress | None) -> None:
    try:
        report = service.build(progress=progress)
    except QAError as e:  # e.g. the last document was deleted: say so and keep watching
        log.error("error: %s", e)
        return
    if report.built:
        on_build(report)


def _identity(folder: Path) -> tuple[int, int] | None:
    """The folder's device and inode (a swapped-in folder has others), or None when there is none."""
    try:
        info = os.stat(folder)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if os.path.isdir(folder) else None
