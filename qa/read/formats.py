"""Read HTML, PDF and DOCX files into documents: the main text as headed paragraphs, plus the file's own metadata."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from qa.read.documents import Document, DocumentMeta, IngestError, Paragraph, check_text, decode_bytes
from qa.read.plaintext import HEADING_MAX_WEIGHT, byline_fields, line_kind, normalize_date, parse_document
from qa.core.text import CLOSERS, SENTENCE_END

# A page header or footer repeats on at least this share of a PDF's pages (and on REPEAT_MIN_PAGES or more).
REPEAT_SHARE = 0.5
REPEAT_MIN_PAGES = 3
SHORT_LINE = 0.85  # a line narrower than this share of a full line may end a paragraph

# A PDF line that ends a sentence, an ASCII period or a colon may end its paragraph.
_ENDS_PARAGRAPH = re.compile(rf"[{re.escape(SENTENCE_END)}.:：][{re.escape(CLOSERS)}\"'\]]*$")
_DIGITS = re.compile(r"\d+")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_-]+)", re.I)
_ASCII_END = re.compile(r"[A-Za-z0-9,.;:!?)]$")
_ASCII_START = re.compile(r"^[A-Za-z0-9(]")


@dataclass
class Block:
    """One heading or paragraph of a file, in reading order."""

    text: str
    heading: bool = False
    page: int | None = None


def read_html(data: bytes, path: str) -> Document:
    """Main text of a web page by trafilatura; title, date and source (site name) from the page's metadata.

    A page it finds no body text in (e.g. text nested past lxml's depth limit of 255 elements) is read as the text
    it shows, a line per block element, by the plain-text rules for scraped pages."""
    import trafilatura

    html = _decode_html(data, path)
    page = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, include_tables=True)
    blocks = []
    for element in [] if page is None or page.body is None else page.body:
        if element.tag == "head":
            blocks.append(Block(_flat(element), heading=True))
        elif element.tag == "list":
            blocks += [Block(_flat(item)) for item in element.iter("item")]
        elif element.tag == "table":
            blocks += [Block(" ".join(_flat(cell) for cell in row.iter("cell"))) for row in element.iter("row")]
        else:
            blocks.append(Block(_flat(element)))
    # Whatever furniture the extractor let through (bylines, share bars, copyright lines) goes too.
    blocks = [b for b in blocks if b.heading or line_kind(b.text) not in ("blank", "meta", "furniture")]
    if not any(not b.heading for b in blocks):
        return parse_document(_shown_text(html), path)
    author = page.author or ""
    if line_kind(author) == "meta":  # the extractor took a whole byline ('来源：… 作者：… 时间：…') for the author
        author = byline_fields(author)["author"]
    return assemble(
        path, blocks, page.title or Path(path).stem, source=page.sitename or page.hostname or "",
        author=author, date=normalize_date(page.date or ""),
    )


class _ShownText(HTMLParser):
    """The text a page shows, a line per block element, its title first; no element tree, so no depth limit."""

    BLOCKS = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "footer",
              "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
              "table", "td", "th", "tr", "ul"}
    HIDDEN = {"script", "style", "noscript", "template", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title, self.lines, self.line, self.hidden, self.in_title = "", [], [], 0, False

    def handle_starttag(self, tag: str, attrs) -> None:
        self.hidden += tag in self.HIDDEN
        self.in_title = self.in_title or tag == "title"
        if tag in self.BLOCKS:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        self.hidden = max(0, self.hidden - (tag in self.HIDDEN))
        self.in_title = self.in_title and tag != "title"
        if tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        elif not self.hidden:
            self.line.append(data)

    def flush(self) -> None:
        line = " ".join("".join(self.line).split())
        if line:
            self.lines.append(line)
        self.line = []


def _shown_text(html: str) -> str:
    """The page's title and shown text as plain lines."""
    parser = _ShownText()
    parser.feed(html)
    parser.close()
    parser.flush()
    return "\n".join([" ".join(parser.title.split()), *parser.lines]).strip("\n") + "\n"


def read_pdf(data: bytes, path: str) -> Document:
    """Text of every page by pypdf, joined into paragraphs that remember their page; title and author from metadata."""
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{path} is a password-protected PDF.")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata or {}
        title, author = meta.get("/Title") or "", meta.get("/Author") or ""
        date = _creation_date(meta)
    except IngestError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged, truncated or unsupported files
        raise IngestError(f"{path} is not a readable PDF ({type(exc).__name__}: {exc}).") from None
    check_text("\n".join(pages), path)
    lines = [[" ".join(line.split()) for line in text.splitlines()] for text in pages]
    repeated = _repeated_lines(lines)
    kept = [[line for line in page if _DIGITS.sub("#", line) not in repeated] for page in lines]
    if not any(kept):  # every line "repeats": one sentence per page ("Slide 3: ..."), the body, not furniture
        kept = lines
    full = _full_width(kept)
    blocks = [block for number, page in enumerate(kept, 1) for block in _pdf_blocks(page, number, full)]
    return assemble(path, blocks, str(title).strip() or _first_heading(blocks, path), author=str(author), date=date)


def read_docx(data: bytes, path: str) -> Document:
    """Headings, paragraphs and table rows of a Word file in order; title, author and date from its properties."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks, title = [], ""
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks += [Block(" ".join(_unique_cells(row.cells))) for row in item.rows]
                continue
            style = item.style.name if item.style is not None else ""
            if style == "Title" and not title:
                title = item.text.strip()
            else:
                blocks.append(Block(item.text, heading=style.startswith("Heading")))
        props = document.core_properties
    except Exception as exc:  # python-docx raises zip, XML and key errors for damaged files
        raise IngestError(f"{path} is not a readable Word (.docx) file ({type(exc).__name__}: {exc}).") from None
    created = props.created.date().isoformat() if props.created else ""
    title = (props.title or "").strip() or title or _first_heading(blocks, path)
    return assemble(path, blocks, title, author=props.author or "", date=created)


def assemble(path: str, blocks: list[Block], title: str, source: str = "", author: str = "", date: str = "") -> Document:
    """A Document whose text is the blocks one per line; each paragraph carries the heading above it."""
    text, paragraphs, heading = "", [], ""
    for block in blocks:
        content = " ".join(block.text.split())
        if not content:
            continue
        start = len(text)
        text += content + "\n"
        if block.heading:
            heading = "" if content == title else content
        else:
            paragraphs.append(Paragraph(content, start, start + len(content), heading, block.page))
    meta = DocumentMeta(title=" ".join(title.split()), source=source, author=author, date=date)
    return Document(document=path, text=text, meta=meta, paragraphs=paragraphs)


def _decode_html(data: bytes, path: str) -> str:
    """Page text in the charset its <meta> declares if the bytes agree, else as detected for any text file."""
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii").lower()
        try:
            # GB2312 and GBK pages often use characters only their superset GB18030 has.
            text = data.decode("gb18030" if name in ("gb2312", "gbk") else name)
        except (LookupError, UnicodeDecodeError):
            pass
        else:
            check_text(text, path)
            return text
    return decode_bytes(data, path)


def _flat(element) -> str:
    """All text inside an XML element, whitespace collapsed."""
    return " ".join("".join(element.itertext()).split())


def _unique_cells(cells) -> list[str]:
    """Cell texts of a table row; a merged cell appears once, not once per grid column."""
    seen, out = set(), []
    for cell in cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            out.append(cell.text.strip())
    return [c for c in out if c]


def _creation_date(meta) -> str:
    """The PDF's creation date as YYYY-MM-DD; "" when it has none or one pypdf cannot parse ("2021-05-04")."""
    try:
        return meta.creation_date.date().isoformat() if meta and meta.creation_date else ""
    except ValueError:
        return normalize_date(str(meta.get("/CreationDate", "")))


def _repeated_lines(pages: list[list[str]]) -> set[str]:
    """Running headers and footers: lines (numbers masked) found on most pages of a long enough PDF, whose
    numbers are the same on every page or follow the page number ("第 3 页", "Page 3 of 12")."""
    if len(pages) < REPEAT_MIN_PAGES:
        return set()
    seen: dict[str, dict[int, str]] = defaultdict(dict)  # masked line -> page index -> the line as printed
    for number, page in enumerate(pages):
        for line in page:
            if line:
                seen[_DIGITS.sub("#", line)].setdefault(number, line)
    least = max(REPEAT_MIN_PAGES, REPEAT_SHARE * len(pages))
    return {masked for masked, lines in seen.items() if len(lines) >= least and _numbers_run_with_pages(lines)}


def _numbers_run_with_pages(lines: dict[int, str]) -> bool:
    """Whether each number in the lines (page index -> line) is the same on every page, or the page index plus
    the same offset on every page: a page number. A table row ("Population in 1990: 113930") is neither."""
    columns = zip(*([int(n) for n in _DIGITS.findall(line)] for line in lines.values()))
    return all(len(set(column)) == 1 or len({n - page for n, page in zip(column, lines)}) == 1 for column in columns)


def _pdf_blocks(lines: list[str], page: int, full: float) -> list[Block]:
    """Rejoin a page's wrapped lines; a paragraph ends at a blank line or a short line that ends a sentence or heads one.

    `full` is the width of a full line: wrapped lines come near it, last lines and headings fall short.
    """
    blocks, current = [], ""
    for line in lines + [""]:
        if line:
            # Words of spaced scripts wrap at spaces, which extraction drops; Chinese wraps anywhere, without one.
            spaced = " " in line and _ASCII_END.search(current) and _ASCII_START.search(line)
            joiner = " " if spaced else ""
            current = current + joiner + line if current else line
        width = _width(line)
        if current and (not line or width < SHORT_LINE * full and (_ENDS_PARAGRAPH.search(line) or width < full / 2)):
            kind = line_kind(current)
            if kind not in ("blank", "meta", "furniture"):
                blocks.append(Block(current, heading=kind == "short", page=page))
            current = ""
    return blocks


def _width(line: str) -> int:
    """Printed width in half-width columns: CJK characters, and quotes that Chinese fonts print wide, count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in line)


def _full_width(pages: list[list[str]]) -> float:
    """The width of a full line: a high percentile of all line widths, so one overlong line does not set it."""
    widths = sorted(_width(line) for page in pages for line in page if line)
    return widths[int(0.9 * (len(widths) - 1))] if widths else 0


def _first_heading(blocks: list[Block], path: str) -> str:
    """The first heading's text, else the file name without its suffix."""
    return next((b.text for b in blocks if b.heading and len(b.text) <= 4 * HEADING_MAX_WEIGHT), Path(path).stem)
