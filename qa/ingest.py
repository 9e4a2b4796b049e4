"""The data folder: which files are documents, and reading each one by its kind."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qa import formats, pages
from qa.documents import Document, IngestError, decode_bytes

TEXT_SUFFIXES = (".txt", ".md")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".html", ".htm", ".pdf", ".docx")
_READERS = {".html": formats.read_html, ".htm": formats.read_html, ".pdf": formats.read_pdf,
            ".docx": formats.read_docx}


def read_document(path: Path, root: Path) -> Document:
    """Read and parse one file by its suffix; its Document.path is relative to root."""
    rel = Path(path).relative_to(root).as_posix()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IngestError(f"{rel} could not be read ({exc.strerror or exc}).") from None
    return parse_bytes(data, rel)


def parse_bytes(data: bytes, rel: str) -> Document:
    """Parse a file's bytes by the suffix of its name `rel`."""
    if not data.strip():
        raise IngestError(f"{rel} is empty.")
    suffix = Path(rel).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return pages.parse_document(decode_bytes(data, rel), rel)
    return _READERS[suffix](data, rel)


def list_files(data_dir: Path) -> list[Path]:
    """Every supported file under data_dir, recursive, hidden files skipped, sorted by relative path."""
    root = Path(data_dir)
    if not root.is_dir():
        raise IngestError(f"Data folder {root} does not exist or is not a folder.")
    return sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not _hidden(p, root)),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def read_documents(root: Path, paths: Iterable[Path]) -> tuple[list[Document], list[str]]:
    """Read paths under root; unreadable files and files without body text become one warning each."""
    documents, warnings = [], []
    for path in paths:
        try:
            doc = read_document(path, root)
        except IngestError as exc:
            warnings.append(f"{exc} The file was skipped.")
            continue
        if not doc.paragraphs:
            warnings.append(f"{doc.path} has no body text. The file was skipped.")
            continue
        documents.append(doc)
    return documents, warnings


def load_documents(data_dir: Path) -> tuple[list[Document], list[str]]:
    """Load every supported file under data_dir, sorted by path; unreadable or empty files become warnings."""
    return read_documents(Path(data_dir), list_files(data_dir))


def _hidden(path: Path, root: Path) -> bool:
    """True for files inside dot-folders or named with a leading dot."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)
