"""Documents as read from files: the Document and Paragraph records, and decoding file bytes to text."""

from __future__ import annotations

import codecs
import hashlib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from charset_normalizer import from_bytes

from qa.core.errors import QAError

# Non-UTF-8 files are guessed among these; GB18030 is a superset of GBK and GB2312.
CHINESE_ENCODINGS = ["gb18030", "big5"]
MAX_CONTROL_RATIO = 0.1
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


@dataclass
class Paragraph:
    """One body paragraph; Document.text[start:end] == text."""

    text: str
    start: int
    end: int
    heading: str = ""
    page: int | None = None  # 1-based page of a PDF


@dataclass(frozen=True)
class DocumentMeta:
    """What a document says of itself: its title and, where it names them, its source, author, editor and date."""

    title: str = ""
    source: str = ""
    author: str = ""
    editor: str = ""
    date: str = ""


@dataclass
class Document:
    """One source file: its key (`document`, the path under the data folder), text, metadata and body paragraphs."""

    document: str
    text: str
    meta: DocumentMeta
    paragraphs: list[Paragraph] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A file left out of the index: its path under the data folder, and why (a sentence naming the file)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reason} The file was skipped."


class IngestError(QAError):
    """A file that cannot be read as a document; the message is one sentence naming the file."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_bytes(data: bytes, name: str = "") -> str:
    """Decode file bytes: by byte-order mark, else strict UTF-8, else the likeliest Chinese encoding."""
    label = name or "The data"
    text = _decode_by_bom(data, label)
    if text is None:
        if b"\x00" in data:
            raise IngestError(f"{label} contains NUL bytes, so it is binary rather than text.")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Strict UTF-8 goes first because charset-normalizer can mis-guess short texts.
            best = from_bytes(data, cp_isolation=CHINESE_ENCODINGS).best()
            if best is None:
                raise IngestError(f"{label} is not text in UTF-8, GB18030/GBK or Big5.") from None
            text = str(best)
    check_text(text, label)
    return text


def check_text(text: str, label: str) -> None:
    """Refuse text that is mostly control, private-use or replacement characters: that is garbage, not prose."""
    if _control_ratio(text) > MAX_CONTROL_RATIO:
        raise IngestError(f"{label} is mostly control characters, so it is binary rather than text.")


def _decode_by_bom(data: bytes, label: str) -> str | None:
    """Text of data if it starts with a UTF-8 or UTF-16 byte-order mark, else None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise IngestError(f"{label} has a {encoding} byte-order mark but is not valid {encoding}.") from None
    return None


def _control_ratio(text: str) -> float:
    """Share of characters that are control, private-use, unassigned or replacement characters."""
    if not text:
        return 0.0
    bad = sum(
        1
        for ch in text
        if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Co", "Cn", "Cs") and ch not in "\n\r\t\f\v")
    )
    return bad / len(text)
