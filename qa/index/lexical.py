"""Lexical retrieval: BM25 over jieba words, built from a build's passages and persisted beside its vectors."""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

import numpy as np

FOLDER = "lexical"
WORDS_FILE = "words.txt"  # each passage's words, space-separated, one line each in `ids` order: an update reuses them
_WORD = re.compile(r"\w")


def tokenize(text: str) -> list[str]:
    """Lower-cased jieba words in search mode (long words also yield their parts); punctuation dropped."""
    return list(_tokens(text))


@functools.lru_cache(maxsize=256)
def _tokens(text: str) -> tuple[str, ...]:
    # A question is tokenized for BM25 and again for its word weights: the second time costs nothing.
    # No word holds a space (split() makes sure), so a build can keep them one passage a line (WORDS_FILE).
    return tuple(w for t in _jieba().lcut_for_search(text) for w in t.lower().split() if _WORD.search(w))


@functools.cache
def _jieba():
    import jieba

    return jieba


def read_words(folder: Path) -> dict[int, list[str]] | None:
    """The words of every passage of an index written by `save`, by passage id; None when it did not keep them."""
    try:
        ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        with (folder / WORDS_FILE).open(encoding="utf-8", newline="\n") as f:
            words = [line.split() for line in f]
    except (OSError, ValueError):  # not kept (a build from before), or changed since it was checked: cut again
        return None
    return dict(zip(ids, words)) if len(words) == len(ids) else None


class LexicalIndex:
    """BM25 scores of every passage for a question, in ascending passage-id order (`ids`)."""

    def __init__(self, retriever, ids: np.ndarray, words: list[list[str]] | None = None):
        self.retriever = retriever
        self.ids = ids
        self.words = words  # each passage's words, in `ids` order: kept by a new index to save, not by a loaded one
        count = len(ids)
        indptr = retriever.scores["indptr"] if retriever is not None else np.zeros(1)
        vocab = retriever.vocab_dict if retriever is not None else {}
        # BM25 keeps one column per word: its length is the word's document frequency. bm25s adds an
        # empty word past the last column, which our tokenizer never produces.
        self.idf = {w: _idf(count, int(indptr[i + 1] - indptr[i])) for w, i in vocab.items() if i + 1 < len(indptr)}

    @classmethod
    def build(cls, passages: list[tuple[int, str]]) -> "LexicalIndex":
        """Index a build's complete list of (passage id, text)."""
        return cls.from_words({pid: tokenize(text) for pid, text in passages})

    @classmethod
    def from_words(cls, words: dict[int, list[str]]) -> "LexicalIndex":
        """Index a build's passages given their words, by passage id."""
        import bm25s

        ids = np.array(sorted(words), dtype=np.int64)
        corpus = [words[pid] for pid in ids.tolist()]
        if not any(corpus):
            return cls(None, ids, corpus)
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        return cls(retriever, ids, corpus)

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (created), with each passage's words when it has them."""
        folder.mkdir()
        (folder / "ids.json").write_text(json.dumps(self.ids.tolist()), encoding="utf-8")
        if self.words is not None:
            with (folder / WORDS_FILE).open("w", encoding="utf-8", newline="\n") as f:
                f.writelines(" ".join(w) + "\n" for w in self.words)
        if self.retriever is not None:
            self.retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        """Read an index written by `save`."""
        import bm25s

        ids = np.array(json.loads((folder / "ids.json").read_text(encoding="utf-8")), dtype=np.int64)
        _jieba().initialize()  # load the dictionary now rather than on the first question
        has_index = (folder / "params.index.json").exists()
        return cls(bm25s.BM25.load(str(folder), show_progress=False) if has_index else None, ids)

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every passage (in `ids` order); all zero when no question word occurs in the collection."""
        words = [w for w in tokenize(question) if w in self.idf]
        if not words:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(words), dtype=np.float32)

    def top(self, question: str, k: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores) of up to k passages sharing words with the question, best first (of `among`, if given)."""
        scores, ids = self.scores(question), self.ids
        if among is not None:
            rows = np.searchsorted(ids, among)
            scores, ids = scores[rows], ids[rows]
        best = np.argpartition(-scores, k)[:k] if len(scores) > k else np.arange(len(scores))
        best = best[np.argsort(-scores[best], kind="stable")]
        best = best[scores[best] > 0]
        return ids[best], scores[best]

    def known_words(self, question: str) -> dict[str, float]:
        """The question's words that occur in the collection, with their rarity (idf)."""
        return {w: self.idf[w] for w in tokenize(question) if w in self.idf}


def _idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))
