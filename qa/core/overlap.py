"""How close an answer is to a gold answer, as CMRC 2018 measures it: exact match and character F1.

Both compare texts without punctuation and spaces, lowercased; F1 is over the longest common substring.
"""

from __future__ import annotations

import unicodedata


def answer_chars(text: str) -> str:
    """The text lowercased, without spaces and punctuation (what the two measures compare)."""
    return "".join(c for c in text.lower() if not c.isspace() and not unicodedata.category(c).startswith("P"))


def exact_match(prediction: str, golds: list[str]) -> float:
    """1.0 when the prediction equals one of the gold answers (punctuation and spaces aside), else 0.0."""
    p = answer_chars(prediction)
    return float(any(p == answer_chars(g) for g in golds))


def char_f1(prediction: str, golds: list[str]) -> float:
    """The best F1 against the gold answers, from the longest common substring of characters."""
    return max((_f1(answer_chars(prediction), answer_chars(g)) for g in golds), default=0.0)


def _f1(p: str, g: str) -> float:
    if not p or not g:
        return float(p == g)
    longest, row = 0, [0] * (len(g) + 1)
    for a in p:
        previous = 0
        for j, b in enumerate(g, 1):
            previous, row[j] = row[j], (previous + 1 if a == b else 0)
            longest = max(longest, row[j])
    if not longest:
        return 0.0
    precision, recall = longest / len(p), longest / len(g)
    return 2 * precision * recall / (precision + recall)
