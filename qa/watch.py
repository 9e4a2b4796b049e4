"""Follow the data folder and update the index as files change (`qa index --watch`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from qa.errors import QAError
from qa.service import BuildReport, Service
from qa.sync import Progress

log = logging.getLogger("qa")


def follow(service: Service, on_build: Callable[[BuildReport], None], stop: threading.Event | None = None,
           progress: Progress | None = None) -> None:
    """After each burst of changes under the data folder, update the index and pass on the report; until `stop`."""
    from watchfiles import watch

    for _changes in watch(service.data_dir, stop_event=stop, debounce=500, step=100):
        try:
            report = service.build(progress=progress)
        except QAError as e:  # e.g. the last document was deleted: say so and keep watching
            log.error("error: %s", e)
            continue
        if report.built:
            on_build(report)
