"""Logging for the programs (`qa`, app.py): the service's own messages, and other libraries' only when they warn."""

from __future__ import annotations

import logging
import os
import sys

from qa.core.text import printable

# Libraries that warn about what our own messages already say (a damaged PDF, a file held by another process).
_QUIETER = {"pypdf": logging.ERROR, "pymilvus": logging.CRITICAL, "milvus_lite": logging.CRITICAL,
            "grpc._server": logging.CRITICAL, "watchfiles": logging.WARNING}
# Libraries that set their own logger to DEBUG with a handler of their own when imported: a filter outlasts that.
_OWN_HANDLERS = ("jieba",)


def configure_logging(verbose: bool = False) -> None:
    """Show "qa" messages from INFO and other libraries' from WARNING on stderr (everything when verbose)."""
    # Read by transformers and huggingface_hub when they are imported: no INFO lines or download bars.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Printable("%(message)s"))
    if not verbose:
        handler.addFilter(_ours_or_warning)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    if verbose:
        return
    for name, level in _QUIETER.items():
        logging.getLogger(name).setLevel(level)
    for name in _OWN_HANDLERS:
        logging.getLogger(name).addFilter(_warning)


class _Printable(logging.Formatter):
    """Each message on one line as it was meant: a file name with an escape sequence or a line break in it
    cannot forge or colour a line of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def _ours_or_warning(record: logging.LogRecord) -> bool:
    if record.name == "root" and "onnxruntime" in record.pathname:
        return False  # the quantizer's advice on pre-processing, printed once when the model is exported
    return record.name == "qa" or record.name.startswith("qa.") or record.levelno >= logging.WARNING


def _warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING
