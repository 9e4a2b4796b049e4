"""Scraped web pages saved as text (.txt, .md): page furniture dropped, byline read, body paragraphs kept."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

from qa.read.documents import Document, DocumentMeta, Paragraph
from qa.core.text import ends_sentence, has_punctuation, has_sentence_end, trim_span, weight

PROSE_MIN_WEIGHT = 15  # a body paragraph has at least this many CJK characters / words
PROSE_UNENDED_WEIGHT = 40  # ...and ends a sentence somewhere unless it is at least this long
HEADING_MAX_WEIGHT = 30
MENU_ITEM_MAX_WEIGHT = 6

_META_FIELDS = {
    "来源": "source",
    "作者": "author",
    "记者": "author",
    "责任编辑": "editor",
    "编辑": "editor",
    "发布时间": "date",
    "发表时间": "date",
    "发布日期": "date",
    "更新时间": "date",
    "时间": "date",
    "日期": "date",
    "阅读": "",
    "浏览": "",
    "点击": "",
    # the same labels in traditional characters
    "來源": "source",
    "記者": "author",
    "責任編輯": "editor",
    "編輯": "editor",
    "發布時間": "date",
    "發佈時間": "date",
    "發表時間": "date",
    "發布日期": "date",
    "更新時間": "date",
    "時間": "date",
    "閱讀": "",
    "瀏覽": "",
    "點擊": "",
}
_META_LABEL = re.compile(
    r"(?:^|(?<=[\s|｜/\[【(（]))(" + "|".join(_META_FIELDS) + r")(?:次数|次數|数|數|量)?\s*[:：]\s*"
)
_VALUE_JUNK = " \u00a0\u3000|｜/[]【】()（）"
_UNKNOWN_AUTHOR = {"未知", "佚名", "不详", "匿名"}
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_LEAD = re.compile(r"^(?:导读|导语|摘要|内容提要|核心提示|编者按)\s*[:：]\s*")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
# Site-wide labels for navigation, sharing and disclaimers, with or without a value after a colon.
_NAV_LABEL = re.compile(
    r"^(?:当前位置|您的位置|所在位置|上一篇|下一篇|上一条|下一条|上一页|下一页|分享到|分享|"
    r"关键词|关键字|标签|相关阅读|相关新闻|相关文章|相关链接|推荐阅读|延伸阅读|热门推荐|"
    r"免责声明|版权声明|声明)\s*(?:[:：]|$)"
)
# Lines made only of page actions ("点赞", "收藏 12", "打印本页 | 关闭窗口").
_ACTIONS_LINE = re.compile(
    r"^(?:(?:点赞|赞|收藏|分享|转发|打印|评论|举报|纠错|在看|扫一扫|关闭窗口|打印本页|返回顶部|返回列表|返回首页)"
    r"[\s\d()（）\[\]【】|｜/·:：]*)+$"
)
# Copyright and site-registration marks are furniture even when the line reads like prose.
_LEGAL_STRONG = re.compile(
    r"©|\(c\)\s*\d{4}|copyright|all rights reserved|ICP[备证][\s:：]*\d|公网安备[\s:：]*\d", re.I
)
_LEGAL_WEAK = re.compile(r"版权所有|许可证|ICP|公网安备")
_CRUMB_SEP = re.compile(r"[>»›→]")
_MENU_SEP = re.compile(r"\s*[|｜]\s*|\s+[-–—/·•]\s+")


@dataclass
class _Line:
    start: int
    end: int
    text: str
    kind: str  # blank, md_heading, lead, meta, furniture, body, sentence, short, other


def parse_document(text: str, path: str) -> Document:
    """Turn decoded text into a Document: metadata from the header, title, body paragraphs.

    The furniture rules are for scraped pages: text without a byline or page furniture, or a page whose
    rules find no prose (a notice, a roster, a table), keeps every line (`_plain_paragraphs`).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _classify_lines(text, is_markdown=path.lower().endswith(".md"))
    paragraphs, title_index = [], None
    if any(line.kind in ("meta", "furniture") for line in lines):
        header = _header_index(lines)
        begin = 0 if header is None else header + 1
        body = [i for i in range(begin, len(lines)) if lines[i].kind == "body"]
        title_index = _title_index(lines, header, body[0] if body else len(lines))
        paragraphs = _paragraphs(lines, begin, body, title_index)
    if not paragraphs:
        paragraphs, title_index = _plain_paragraphs(lines)
    title = _heading_text(lines[title_index].text) if title_index is not None else Path(path).stem
    return Document(document=path, text=text, meta=DocumentMeta(title=title, **_metadata(lines)), paragraphs=paragraphs)


def _classify_lines(text: str, is_markdown: bool) -> list[_Line]:
    """Split text into whitespace-trimmed lines and label each one."""
    lines, pos = [], 0
    for raw in text.split("\n"):
        start, end = trim_span(text, pos, pos + len(raw))
        pos += len(raw) + 1
        stripped = text[start:end]
        lead = _LEAD.match(stripped)
        if lead:
            start = trim_span(text, start + lead.end(), end)[0]
            kind = "body" if _is_prose(text[start:end]) else "lead"
        elif is_markdown and _MD_HEADING.match(stripped):
            kind = "md_heading"
        else:
            kind = line_kind(stripped)
        lines.append(_Line(start, end, text[start:end], kind))
    return lines


def line_kind(line: str) -> str:
    """Label one trimmed plain-text line."""
    if not line:
        return "blank"
    if _is_meta(line):
        return "meta"
    if _is_furniture(line):
        return "furniture"
    if _is_prose(line):
        return "body"
    if ends_sentence(line):
        return "sentence"  # a short sentence: body text only between body paragraphs
    return "short" if weight(line) <= HEADING_MAX_WEIGHT else "other"


def _is_prose(line: str) -> bool:
    """Reads like sentences: long enough, with sentence punctuation and usually a sentence end."""
    n = weight(line)
    return n >= PROSE_MIN_WEIGHT and has_punctuation(line) and (has_sentence_end(line) or n >= PROSE_UNENDED_WEIGHT)


def _is_meta(line: str) -> bool:
    """A byline/header line such as '来源：… 作者：… 时间：…' or '责任编辑：…'."""
    return _META_LABEL.search(line) is not None and not has_sentence_end(line)


def _is_furniture(line: str) -> bool:
    """Page chrome: navigation, menus, sharing and legal lines, or lines without any words."""
    if weight(line) == 0 or _LEGAL_STRONG.search(line) or _NAV_LABEL.match(line) or _ACTIONS_LINE.match(line):
        return True
    if _is_prose(line):
        return False
    return bool(_CRUMB_SEP.search(line) or _LEGAL_WEAK.search(line) or _is_menu(line))


def _is_menu(line: str) -> bool:
    """Two or more short items joined by '|', ' - ', ' / ' or ' · '."""
    items = [item for item in _MENU_SEP.split(line) if item]
    return len(items) >= 2 and all(weight(item) <= MENU_ITEM_MAX_WEIGHT for item in items)


def _heading_text(line: str) -> str:
    """Heading as display text: Markdown hashes dropped, whitespace runs collapsed."""
    return " ".join(_MD_HEADING.sub("", line).rstrip("#").split())


def _header_index(lines: list[_Line]) -> int | None:
    """The byline opening the article: the first metadata line with most body lines below it, plus any right after."""
    body = [i for i, line in enumerate(lines) if line.kind == "body"]
    for i, line in enumerate(lines):
        if line.kind == "meta" and 2 * sum(b < i for b in body) < len(body):
            header = i
            for j in range(i + 1, len(lines)):
                if lines[j].kind == "meta":
                    header = j
                elif lines[j].kind != "blank":
                    break
            return header
    return None


def _title_index(lines: list[_Line], header: int | None, first_body: int) -> int | None:
    """The Markdown '# ' title, else the line just above the header, else the first heading-like line."""
    for i, line in enumerate(lines):
        if line.kind == "md_heading" and line.text.startswith("# "):
            return i
    if header is not None:
        above = [i for i in range(header) if lines[i].kind in ("short", "other")]
        if above:
            return above[-1]
    return next((i for i in range(first_body) if lines[i].kind in ("short", "other")), None)


def _paragraphs(lines: list[_Line], begin: int, body: list[int], title_index: int | None) -> list[Paragraph]:
    """Body paragraphs from lines[begin:] with their section headings; short lines outside the body are dropped."""
    if not body:
        return []
    first, last = body[0], body[-1]
    paragraphs: list[Paragraph] = []
    heading, block = "", []
    for i in range(begin, last + 1):
        line = lines[i]
        if line.kind in ("md_heading", "lead") and i != title_index:
            heading, block = _heading_text(line.text), []
        elif line.kind == "short" and i > first:
            # Adjacent short lines are one heading split over lines; a gap starts a new one.
            block = block + [line.text] if lines[i - 1].kind == "short" else [line.text]
        elif line.kind == "body" or (line.kind == "sentence" and first < i < last):
            if block:
                heading, block = _heading_text(" ".join(block)), []
            paragraphs.append(Paragraph(line.text, line.start, line.end, heading))
    return paragraphs


def _plain_paragraphs(lines: list[_Line]) -> tuple[list[Paragraph], int | None]:
    """Every line that is not furniture or a byline, and the title's line: a first short line, or a '# ' heading.

    A short line or a Markdown heading directly above prose heads the paragraphs after it.
    """
    kept = [i for i, line in enumerate(lines) if line.kind not in ("blank", "meta", "furniture")]
    title_index = next((i for i in kept if lines[i].kind == "md_heading" and lines[i].text.startswith("# ")), None)
    if title_index is None and len(kept) > 1 and lines[kept[0]].kind in ("short", "md_heading"):
        title_index = kept[0]
    paragraphs, heading = [], ""
    for n, i in enumerate(kept):
        line = lines[i]
        above_prose = n + 1 < len(kept) and lines[kept[n + 1]].kind == "body"
        if i == title_index:
            continue
        if line.kind in ("md_heading", "lead") or (line.kind == "short" and above_prose):
            heading = _heading_text(line.text)
        else:
            paragraphs.append(Paragraph(line.text, line.start, line.end, heading))
    return paragraphs, title_index


def _metadata(lines: list[_Line]) -> dict[str, str]:
    """Source, author, editor and date from header/byline lines; the first value of each wins."""
    found = {"source": "", "author": "", "editor": "", "date": ""}
    for line in lines:
        if line.kind == "meta":
            for name, value in byline_fields(line.text).items():
                found[name] = found[name] or value
    return found


def byline_fields(line: str) -> dict[str, str]:
    """Source, author, editor and date named in one byline such as '来源：某报 作者：李四 时间：2021-06-01'."""
    found = {"source": "", "author": "", "editor": "", "date": ""}
    matches = list(_META_LABEL.finditer(line))
    for m, nxt in zip(matches, matches[1:] + [None]):
        name = _META_FIELDS[m.group(1)]
        value = line[m.end() : nxt.start() if nxt else len(line)].strip(_VALUE_JUNK)
        if name == "date":
            value = normalize_date(value)
        elif name == "author" and value in _UNKNOWN_AUTHOR:
            value = ""
        if name and value and not found[name]:
            found[name] = value
    found["date"] = found["date"] or normalize_date(line)
    return found


def normalize_date(value: str) -> str:
    """First date in value as YYYY-MM-DD, or '' if there is no valid one."""
    m = _DATE.search(value)
    if not m:
        return ""
    try:
        return datetime.date(*(int(g) for g in m.groups())).isoformat()
    except ValueError:
        return ""
