"""Text rules every stage shares: where sentences and clauses end, what counts as space, how long a text reads.

Reading (qa.read.plaintext, qa.read.formats), chunking, the clause table and answer spans all cut text with these
rules, so a clause is the same clause everywhere.
"""

from __future__ import annotations

import re
import unicodedata

SENTENCE_END = "。！？!?；;…"  # a sentence ends after one of these (and any closing quotes)
CLAUSE_END = "，：,:"  # a clause ends after one of these, or at a sentence end
LIST_BREAK = "、"  # between list items: too short to stand alone as clauses, but a place to cut a long sentence
CLOSERS = "”’」』）)】》"  # closing quotes and brackets stay with the mark they follow
ZERO_WIDTH_SPACES = "\u200b\ufeff"
HAN = "\u4e00-\u9fff"  # CJK Unified Ideographs: what counts as a Chinese character, for a regex class
HAN_CHAR = re.compile(f"[{HAN}]")

# ASCII words and numbers, with the punctuation that may sit inside them ("3.5", "U.S", "1,724", "08:42").
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.,:;!?'’/\-][A-Za-z0-9]+)*")
_CLAUSE_MARKS = re.compile(f"[{re.escape(SENTENCE_END + CLAUSE_END)}]+[{re.escape(CLOSERS)}]*")
_WORD = re.compile(r"[A-Za-z]+|[^\W\d_A-Za-z]")
# Colons are left out: labels use them ("来源：", "Tags:") without being sentences.
# An ASCII period counts after a word and before a space or the end ("It is. So", not "3.5" or "U.S").
_PUNCTUATION = re.compile(rf"[{re.escape(SENTENCE_END + LIST_BREAK)}，,]|(?<=[A-Za-z])\.(?=\s|$)")
# A sentence end inside a line; an ASCII period counts before a space or the end of the line.
_HAS_SENTENCE_END = re.compile(rf"[{re.escape(SENTENCE_END)}]|\.(?=\s|$)")
# What makes a question searchable: a digit, a letter other than ASCII Latin (CJK, Cyrillic, é), or an ASCII
# word of two letters or more ("a", "?" or an emoji alone asks nothing).
_CONTENT = re.compile(r"\d|[^\W\d_A-Za-z]|[A-Za-z]{2,}")
# A line that ends a sentence: a mark, or an ASCII period after a word of two letters or more ("making.", not "1.").
_UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp", "Cs")
_ENDS_SENTENCE = re.compile(rf"(?:[{re.escape(SENTENCE_END)}]|(?<=[A-Za-z]{{2}})\.)[{re.escape(CLOSERS)}]*$")


def is_space(ch: str) -> bool:
    """Whitespace, including no-break, full-width and zero-width spaces."""
    return ch.isspace() or ch in ZERO_WIDTH_SPACES


def printable(text: str) -> str:
    """Text safe to print on a terminal: control and format characters (escape sequences, line breaks, bidi
    overrides), as in a file name, are shown as escapes instead of acting."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in _UNPRINTABLE else ch
                   for ch in text)


def is_han(ch: str) -> bool:
    """A Chinese character (HAN)."""
    return "\u4e00" <= ch <= "\u9fff"


def trim_span(text: str, start: int, end: int, also: str | frozenset[str] = "") -> tuple[int, int]:
    """Shrink [start, end) past surrounding spaces and any characters of `also`."""
    while start < end and (is_space(text[start]) or text[start] in also):
        start += 1
    while end > start and (is_space(text[end - 1]) or text[end - 1] in also):
        end -= 1
    return start, end


def protected_positions(text: str) -> set[int]:
    """Offsets strictly inside an ASCII word or number, where text must never be cut."""
    return {p for m in _ASCII_TOKEN.finditer(text) for p in range(m.start() + 1, m.end())}


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans covering text, each ending after sentence-end marks, closing quotes and spaces."""
    protected = protected_positions(text)
    spans, start, i, n = [], 0, 0, len(text)
    while i < n:
        if text[i] not in SENTENCE_END:
            i += 1
            continue
        i += 1
        while i < n and (text[i] in SENTENCE_END or text[i] in CLOSERS):
            i += 1
        while i < n and is_space(text[i]):
            i += 1
        if i < n and i not in protected:
            spans.append((start, i))
            start = i
    if start < n:
        spans.append((start, n))
    return spans


def clause_ends(text: str) -> list[int]:
    """Offsets just after each run of clause or sentence marks (and closing quotes), outside ASCII numbers."""
    protected = protected_positions(text)
    return [m.end() for m in _CLAUSE_MARKS.finditer(text) if m.end() not in protected]


def clause_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of text, trimmed of surrounding spaces; together they cover every word."""
    spans, start = [], 0
    for end in clause_ends(text):
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    return [s for s in (trim_span(text, a, b) for a, b in spans) if s[0] < s[1]]


def weight(text: str) -> int:
    """Length in reading units: each CJK character and each run of Latin letters counts one."""
    return len(_WORD.findall(text))


def has_punctuation(text: str) -> bool:
    """Sentence, comma or list punctuation: the text is written in sentences, not a label."""
    return _PUNCTUATION.search(text) is not None


def has_sentence_end(text: str) -> bool:
    """Some sentence ends inside text."""
    return _HAS_SENTENCE_END.search(text) is not None


def ends_sentence(text: str) -> bool:
    """The (trimmed) text ends a sentence."""
    return _ENDS_SENTENCE.search(text) is not None


def has_words(text: str) -> bool:
    """Whether text holds anything to search for: a digit, a CJK or other letter, or a Latin word."""
    return _CONTENT.search(text) is not None
