"""The data folder: which files are documents, and reading each one by its kind, within bounds.

Plain text is read here. HTML, PDF and DOCX go to third-party parsers, which a crafted file can keep
busy for minutes or make take gigabytes, so they are read in worker processes that are stopped past a
deadline (`ReadLimits`); whatever goes wrong with one file becomes one warning naming it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from qa.read import formats, plaintext
from qa.read.documents import Document, IngestError, Skipped, decode_bytes
from qa.core.settings import ReadLimits
from qa.read.workers import reading_pool

TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".html", ".htm", ".pdf", ".docx")
_READERS = {".html": formats.read_html, ".htm": formats.read_html, ".pdf": formats.read_pdf,
            ".docx": formats.read_docx}
IN_PROCESS_BYTES = 1 << 20  # plain text up to this size is read here: our own rules take linear time


@dataclass
class Listing:
    """The documents of a data folder, sorted by relative path, and the files left out."""

    files: list[Path]
    skipped: list[Skipped]


@dataclass
class Reading:
    """The documents read from some files, in the files' order, and the files left out."""

    documents: list[Document]
    skipped: list[Skipped]


def read_document(path: Path, root: Path) -> Document:
    """Read and parse one file by its suffix; its key (Document.document) is its path relative to root."""
    rel = Path(path).relative_to(root).as_posix()
    try:
        with open(path, "rb") as f:
            # the file opened, wherever links led: one swapped for a link to an outside file since it was listed
            # is refused here, not read
            opened = _opened_path(f.fileno()) or Path(path).resolve()
            if not opened.is_relative_to(Path(root).resolve()):
                raise IngestError(f"{rel} is a link to {opened}, outside the data folder.")
            data = f.read()
    except (OSError, RuntimeError) as exc:  # RuntimeError: pathlib's "Symlink loop"
        raise IngestError(f"{rel} could not be read ({getattr(exc, 'strerror', None) or exc}).") from None
    return parse_bytes(data, rel)


def _opened_path(fd: int) -> Path | None:
    """The real path of an open file (Linux's /proc), or None where the system does not say."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def parse_bytes(data: bytes, rel: str) -> Document:
    """Parse a file's bytes by the suffix of its name `rel`."""
    if not data.strip():
        raise IngestError(f"{rel} is empty.")
    suffix = Path(rel).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return plaintext.parse_document(decode_bytes(data, rel), rel)
    return _READERS[suffix](data, rel)


def list_files(data_dir: Path, max_bytes: int = ReadLimits().max_bytes, leave_out: Path | None = None) -> Listing:
    """Every supported file under data_dir, recursive, hidden files skipped; each file left out says why.

    Left out: names that are not UTF-8 text, links that lead out of the folder, files over `max_bytes`; and,
    silently, the folder `leave_out` (the index folder, when it lies inside: it keeps removed documents).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise IngestError(f"Data folder {root} does not exist or is not a folder.")
    real_root = root.resolve()
    away = Path(leave_out).resolve() if leave_out else None
    files, skipped = [], []

    def unlisted(error: OSError) -> None:  # a folder that cannot be listed: no access, a path over PATH_MAX
        rel = Path(error.filename).relative_to(root).as_posix() if error.filename else "."
        skipped.append(Skipped(rel, f"The folder {rel} could not be read ({error.strerror or error}), so its files "
                                    "were left out."))

    for folder, dirs, names in os.walk(root, onerror=unlisted):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() != away)
        for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(folder, d)))]:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if name.startswith(".") or (path.suffix.lower() not in SUPPORTED_SUFFIXES and not path.is_dir()):
                continue
            problem = _unreadable(path, rel, real_root, max_bytes)
            if problem:
                skipped.append(Skipped(rel, problem))
            elif not path.is_dir():
                files.append(path)
    return Listing(sorted(files, key=lambda p: p.relative_to(root).as_posix()), skipped)


def _unreadable(path: Path, rel: str, real_root: Path, max_bytes: int) -> str | None:
    """Why a listed file is not read, or None."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return f"A file name in {real_root} is not UTF-8 text ({os.fsencode(rel)!r}): rename it to index it."
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: pathlib's "Symlink loop"
        return f"{rel} is a link that leads nowhere (a loop of links)."
    if not real.is_relative_to(real_root):
        return f"{rel} is a link to {real}, outside the data folder."
    if path.is_dir():
        return None  # a link to a folder inside the data folder: its files are listed where they are
    try:
        info = path.stat()
    except OSError as exc:
        return f"{rel} could not be read ({exc.strerror or exc})."
    if not stat.S_ISREG(info.st_mode):
        return f"{rel} is not a regular file."
    if info.st_size > max_bytes:
        return (f"{rel} is {info.st_size / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit for one document "
                "(QA_MAX_DOCUMENT_MB).")
    return None


def read_documents(root: Path, paths: Iterable[Path], limits: ReadLimits = ReadLimits(),
                   on_read: Callable[[int, int], None] | None = None) -> Reading:
    """Read paths under root, in their order; a file that fails, is too slow or has no body text is skipped.

    `on_read(done, total)` is called as files are read.
    """
    paths = list(paths)
    results: dict[int, Document | Skipped] = {}

    def done(i: int, outcome: Document | Skipped) -> None:
        results[i] = outcome
        if on_read:
            on_read(len(results), len(paths))

    heavy = []
    for i, path in enumerate(paths):
        if path.suffix.lower() in TEXT_SUFFIXES and _size(path) <= IN_PROCESS_BYTES:
            done(i, _read_here(path, root))
        else:
            heavy.append(i)
    if heavy:
        with reading_pool(limits, len(heavy)) as pool:
            futures = {i: pool.schedule(read_document, (paths[i], root), timeout=limits.seconds) for i in heavy}
            for i, future in futures.items():
                done(i, _outcome(future, paths[i].relative_to(root).as_posix(), limits))
    reading = Reading([], [])
    for i in range(len(paths)):
        outcome = results[i]
        if isinstance(outcome, Skipped):
            reading.skipped.append(outcome)
        elif not outcome.paragraphs:
            reading.skipped.append(Skipped(outcome.document, f"{outcome.document} has no body text."))
        else:
            reading.documents.append(outcome)
    return reading


def parse_bytes_bounded(data: bytes, rel: str, limits: ReadLimits = ReadLimits()) -> Document:
    """`parse_bytes` in a worker process within `limits` (an upload); an IngestError for whatever goes wrong."""
    if Path(rel).suffix.lower() in TEXT_SUFFIXES and len(data) <= IN_PROCESS_BYTES:
        return parse_bytes(data, rel)
    with reading_pool(limits, 1) as pool:
        outcome = _outcome(pool.schedule(parse_bytes, (data, rel), timeout=limits.seconds), rel, limits)
    if isinstance(outcome, Skipped):
        raise IngestError(outcome.reason)
    return outcome


def load_documents(data_dir: Path, limits: ReadLimits = ReadLimits()) -> Reading:
    """Read every supported file under data_dir, sorted by path, with the files left out or unreadable."""
    listing = list_files(data_dir, limits.max_bytes)
    reading = read_documents(Path(data_dir), listing.files, limits)
    return Reading(reading.documents, listing.skipped + reading.skipped)


def _read_here(path: Path, root: Path) -> Document | Skipped:
    rel = path.relative_to(root).as_posix()
    try:
        return read_document(path, root)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the others
        return _skipped(rel, exc)


def _outcome(future, rel: str, limits: ReadLimits) -> Document | Skipped:
    """A worker's document, or why the file is skipped."""
    try:
        return future.result()
    except FutureTimeout:
        return Skipped(rel, f"{rel} took longer than {limits.seconds:g} s to read (QA_READ_SECONDS), so it was stopped.")
    except Exception as exc:  # noqa: BLE001 - a parser's error, a MemoryError, or a worker that died
        return _skipped(rel, exc)


def _skipped(rel: str, exc: Exception) -> Skipped:
    if isinstance(exc, IngestError):
        return Skipped(rel, str(exc))
    if isinstance(exc, MemoryError):
        return Skipped(rel, f"{rel} needs more memory to read than QA_READ_MEMORY_MB allows.")
    return Skipped(rel, f"{rel} could not be read ({type(exc).__name__}: {exc}).")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
