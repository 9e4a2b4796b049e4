"""Question and passage as the reader sees them: token windows of the passage, each after the question.

A window is `<s> question </s></s> passage tokens </s>`, the default model's pair template. Offsets map
each passage token back to its characters, so a span the reader picks is a span of the passage text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CLS, SEP, PAD = 0, 2, 1  # <s>, </s>, <pad> in the default model's vocabulary
MAX_TOKENS = 192  # a whole window: question, passage part and the four special tokens
MAX_QUESTION_TOKENS = 40


@dataclass
class Encoded:
    """A text's tokens (no special tokens) and each token's character span in the text."""

    ids: list[int]
    offsets: list[tuple[int, int]]


@dataclass
class Window:
    """One reader input: token ids, where the passage tokens start, and their character spans."""

    ids: list[int]
    first: int  # index in `ids` of the first passage token
    offsets: list[tuple[int, int]]  # character spans of ids[first:first + len(offsets)]

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """The characters of the passage that tokens start..end (inclusive, indices into `ids`) cover."""
        return self.offsets[start - self.first][0], self.offsets[end - self.first][1]


@lru_cache(maxsize=4)
def load_tokenizer(model_dir: str):
    """The default model's tokenizer (the `tokenizers` library, no special tokens added on encode)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))


def encode(tokenizer, texts: list[str]) -> list[Encoded]:
    """Each text's tokens and character offsets, without special tokens."""
    return [Encoded(e.ids, e.offsets) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def window(question: list[int], passage: Encoded, start: int, end: int) -> Window:
    """The window holding passage tokens start..end (exclusive) after the question."""
    q = question[:MAX_QUESTION_TOKENS]
    return Window([CLS, *q, SEP, SEP, *passage.ids[start:end], SEP], len(q) + 3, passage.offsets[start:end])


def passage_budget(question: list[int]) -> int:
    """How many passage tokens fit in a window after this question."""
    return MAX_TOKENS - 4 - min(len(question), MAX_QUESTION_TOKENS)


def windows_around(question: list[int], passage: Encoded, char_start: int, char_end: int) -> Window:
    """The window whose passage part is centred on the characters char_start..char_end."""
    budget = passage_budget(question)
    inside = [i for i, (a, b) in enumerate(passage.offsets) if b > char_start and a < char_end]
    middle = (inside[0] + inside[-1]) // 2 if inside else 0
    start = max(0, min(middle - budget // 2, len(passage.ids) - budget))
    return window(question, passage, start, start + budget)


def sliding_windows(question: list[int], passage: Encoded, stride: int | None = None) -> list[Window]:
    """Windows covering the whole passage, overlapping by a third of a window unless `stride` is given."""
    budget = passage_budget(question)
    stride = stride or max(1, budget * 2 // 3)
    starts = list(range(0, max(1, len(passage.ids) - budget + stride), stride))
    return [window(question, passage, s, s + budget) for s in starts]


def token_span(w: Window, char_start: int, char_end: int) -> tuple[int, int] | None:
    """The window's tokens (indices into ids, inclusive) covering characters char_start..char_end; None if not all in it."""
    if not w.offsets or char_start < w.offsets[0][0] or char_end > w.offsets[-1][1]:
        return None
    starts = [i for i, (a, b) in enumerate(w.offsets) if a <= char_start < b]
    ends = [i for i, (a, b) in enumerate(w.offsets) if a < char_end <= b]
    if not starts or not ends or ends[-1] < starts[0]:
        return None
    return w.first + starts[0], w.first + ends[-1]
