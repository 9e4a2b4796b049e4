"""Within a passage: which clause answers the question, the span around it, and the exact answer phrase.

The span step runs per hit at question time and uses no model: the clause scores the search already
has (cosine with the question), the question's words weighted by how rare they are in the passage,
and the kind of answer the question asks for. A clause scores for answering when it holds or follows
the passage's rare question words, gives the asked-for kind of answer with something the question does
not already say, and stands where the question word stands ("X有几条跑道" / "X有三条跑道").
The span is the clause's sentence, or the clause and its neighbours when the sentence is long;
`Answer.exact` marks the answer phrase inside it when the question's kind makes it clear.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from qa.core.kinds import ANSWER_TYPES, CN_NUMERAL, MEASURE, PERSON_TITLE, kinds_of
from qa.core.text import HAN, is_han, split_sentences, trim_span

MAX_ANSWER_CHARS = 80  # a longer sentence is narrowed to the best clause and its neighbours
MAX_NARROWED_CHARS = 100  # ... and when that is longer still, to the clause and its better neighbour, or alone
MIN_CLAUSE_LETTERS = 4  # a shorter neighbour ("即:", "其中,") does not count: the span takes the next one too

# How the exact answer reads, for the kinds it can be told by its form; `name`, when matched, is the phrase.
_PHRASES = {
    "quantity": re.compile(
        rf"(?:约|大约|近|超过|共)?\d[\d,.]*(?!\d)(?!\s*[年月日号])\s*(?:多|余)?[万亿千百]?\s*"
        rf"(?:%|％|[A-Za-z]+\b|[{MEASURE}])?|[{CN_NUMERAL}]+(?:多|余)?[{MEASURE}]"),
    "duration": re.compile(rf"[\d{CN_NUMERAL}]+\s*(?:多|余)?个?[年载月天日周](?:多|半)?|[\d{CN_NUMERAL}]+世纪"),
    "date": re.compile(rf"\d+\s*年(?:\s*\d+\s*月)?(?:\s*\d+\s*日)?|\d+\s*月(?:\s*\d+\s*日)?|[{CN_NUMERAL}]+[年月日]"
                       rf"|(?:星期|周)[一二三四五六日天]|今年|去年|明年"),
    "person": re.compile(rf"[{HAN}]{{1,4}}·[{HAN}]{{1,6}}|(?P<name>[{HAN}]{{2,3}})(?=先生|女士|教授|博士)"
                         rf"|[A-Z][a-z]+(?: [A-Z][a-z.]+)+|(?:{PERSON_TITLE})[为是:：]?(?P<named>[{HAN}]{{2,3}})"),
    "title": re.compile(r"《[^》]+》"),
}


@dataclass
class Phrase:
    """A phrase of a hit's text: hit.text[start:end] == text."""

    text: str
    start: int
    end: int


@dataclass
class Answer:
    """The span of a hit that best answers the question: hit.text[start:end] == text.

    `exact` is the answer phrase itself, inside the span, when the question asks for a clear kind of answer
    (a number, a date, a name) or its wording pins the phrase down; else None.
    """

    text: str
    start: int
    end: int
    exact: Phrase | None = None

    def __post_init__(self) -> None:
        if isinstance(self.exact, dict):  # from the JSON form
            self.exact = Phrase(**self.exact)


# --- Which clause answers -----------------------------------------------------------------------

# Question words. Chinese asks in place: the answer stands where the question word stands.
_QUESTION_WORD = re.compile(
    r"为什么|为何|什么|哪些|哪里|哪儿|哪个|哪位|哪种|哪家|哪所|哪部|哪首|哪本|哪一|哪|多少|多久|多长|多大|多高|多远|多重"
    r"|几|谁|怎么样|怎样|怎么|如何|何时|何地|何处|何人|何|吗|呢"
    r"|\b(?:what|which|who|whom|whose|where|when|why|how)\b", re.IGNORECASE)
# Characters too common to tell one clause from another.
_FUNCTION_CHARS = frozenset("的了是在有和与及或就也都而被把对于为以之其这那个一吗呢么吧啊着过")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+(?:[.\-][A-Za-z0-9]+)*")
_HAN_RUN = re.compile(f"[{HAN}]+")
_PUNCTUATION = " ?？!！,，.。、:：;；“”\"'《》()（）"

# "多少名", "几个": the measure word a count answering the question ends in (名 and 位 count people alike;
# 人 is left apart: "多少名党员" is not answered by "100多人" beside the count).
_ASKED_MEASURE = re.compile(f"(?:多少|几)([{MEASURE}])")
_SAME_MEASURE = ("名位",)

RARITY_POWER = 1.5  # a question word found in d clauses of the passage weighs d ** -RARITY_POWER
NEAR_BONUS = 1.0  # the question word's neighbours (what is asked about) weigh up to 1 + NEAR_BONUS times more
NEAR_CHARS = 3.0  # ... falling off over this many characters
CONTEXT_CHARS = 12  # question characters either side of the question word matched against the passage
COMMON_IDF = 1.0  # a collection word with a lower idf (BM25's; in over ~37% of passages) weighs less in a passage
MAX_GAP_CHARS = 40  # longest answer between the matched context before and after the question word
MAX_EXACT_CHARS = 24  # longest text between matched context that is marked as the exact answer
# Weights of a clause's features in its answer score (ClauseFeatures). Chosen on half of the CMRC trial set
# (documents with an even number) by a conditional-logit fit, then rounded; checked on the other half.
WEIGHTS = {
    "cosine": 1.0,
    "words": 2.4,
    "words_before": 1.0,
    "words_after": 0.3,
    "kind": 1.0,
    "fills_gap": 0.7,
}


@dataclass(frozen=True)
class Cue:
    """What a question tells the span choice: its words, the kinds of answer it asks for, its question word."""

    terms: tuple[tuple[str, float], ...]  # Han characters and pairs, lower-cased Latin words; with prior weights
    kinds: tuple[str, ...]  # names of ANSWER_TYPES the question asks for
    chars: frozenset[str]  # every character of the question (lower-cased), to tell what a clause adds to it
    before: str = ""  # the question's text just before its question word (lower-cased, no punctuation)
    after: str = ""  # ... and just after it
    counted: str = ""  # the measure words a count must end in, when the question names one ("多少名": 名位)


@lru_cache(maxsize=256)
def question_cue(question: str) -> Cue:
    """The question's content words (question words and function characters left out), each weighing more the
    nearer it stands to the question word (what is asked about, not the topic), and the asked-for kinds."""
    asked = [m.span() for m in _QUESTION_WORD.finditer(question)]
    content = _QUESTION_WORD.sub(lambda m: " " * len(m.group()), question)  # offsets kept

    def prior(start: int, end: int) -> float:
        distance = min((max(a - end, start - b, 0) for a, b in asked), default=None)
        return 1.0 if distance is None else 1.0 + NEAR_BONUS * math.exp(-distance / NEAR_CHARS)

    terms: dict[str, float] = {}

    def add(term: str, start: int, end: int) -> None:
        terms[term] = max(terms.get(term, 0.0), prior(start, end))

    for run in _HAN_RUN.finditer(content):
        text, at = run.group(), run.start()
        for i, ch in enumerate(text):
            if ch not in _FUNCTION_CHARS:
                add(ch, at + i, at + i + 1)
            pair = text[i:i + 2]
            if len(pair) == 2 and not (pair[0] in _FUNCTION_CHARS and pair[1] in _FUNCTION_CHARS):
                add(pair, at + i, at + i + 2)
    for word in _ASCII_WORD.finditer(content):
        add(word.group().lower(), *word.span())
    kinds = kinds_of(question)
    measure = _ASKED_MEASURE.search(question)
    counted = next((group for group in _SAME_MEASURE if measure[1] in group), measure[1]) if measure else ""
    cue = Cue(tuple(terms.items()), kinds, frozenset(question.lower()), counted=counted)
    if not asked:
        return cue
    start, end = asked[0]
    return replace(cue, before=question[:start].lower().strip(_PUNCTUATION)[-CONTEXT_CHARS:],
                   after=question[end:].lower().strip(_PUNCTUATION)[:CONTEXT_CHARS])


def common_words_weigh_less(cue: Cue, idf: dict[str, float]) -> Cue:
    """The cue with the terms of words that most passages of the collection hold (idf below COMMON_IDF: the
    town every document is about) weighing less, in proportion: they cannot tell where in a passage the answer is."""
    common = {word.lower(): weight for word, weight in idf.items() if weight < COMMON_IDF}
    if not common:
        return cue
    terms = []
    for term, prior in cue.terms:
        rarity = min((weight for word, weight in common.items() if term in word), default=COMMON_IDF)
        terms.append((term, prior * rarity / COMMON_IDF))
    return replace(cue, terms=tuple(terms))


@dataclass
class ClauseFeatures:
    """Evidence, per clause of a passage, that it answers the question (each 0..1, but `cosine` <= 0)."""

    cosine: list[float]  # the clause's score from the search, less the passage's best
    words: list[float]  # share of the question's words in the clause; rare words (in the passage) weigh more
    words_before: list[float]  # `words` of the clause before
    words_after: list[float]  # `words` of the clause after
    kind: list[float]  # the clause gives an asked-for kind of answer, with something the question lacks
    fills_gap: list[float]  # the clause holds text where the question word stands, between matched context


def clause_features(text: str, clauses: list[tuple[int, int]], scores: list[float], cue: Cue) -> ClauseFeatures:
    """The features of each clause (ClauseFeatures); no model, a few string searches per clause."""
    lowered = [text[a:b].lower() for a, b in clauses]
    words = [0.0] * len(clauses)
    total = 0.0
    for term, prior in cue.terms:
        holding = [i for i, clause in enumerate(lowered) if term in clause]
        if holding:
            weight = prior * len(holding) ** -RARITY_POWER
            total += weight
            for i in holding:
                words[i] += weight
    words = [w / total for w in words] if total else words
    kind = [float(bool(_kind_matches(text[a:b], cue))) for a, b in clauses] if cue.kinds else [0.0] * len(clauses)
    fills = [0.0] * len(clauses)
    for gap_start, gap_end, share in _gaps(text.lower(), cue):
        for i, (a, b) in enumerate(clauses):
            if a < gap_end and gap_start < b and share > fills[i]:
                fills[i] = share
    best = max(scores)
    return ClauseFeatures(
        cosine=[s - best for s in scores], words=words, words_before=[0.0] + words[:-1],
        words_after=words[1:] + [0.0], kind=kind, fills_gap=fills)


def _kind_matches(clause: str, cue: Cue, phrases: bool = False) -> list[tuple[int, int]]:
    """Where the clause gives an asked-for kind of answer with text the question does not hold; with `phrases`,
    only the kinds whose answer can be told by its form (_PHRASES), as the phrase itself."""
    found = []
    for kind in cue.kinds:
        pattern = _PHRASES.get(kind) if phrases else ANSWER_TYPES[kind][1]
        if kind == "quantity" and cue.counted:  # "多少名党员": a count of 名, not "100多人" beside it
            pattern = _count_of(cue.counted)
        for m in pattern.finditer(clause) if pattern else ():
            if not set(m.group().lower()) <= cue.chars:
                group = next((g for g in ("name", "named") if g in pattern.groupindex and m.group(g)), 0)
                start, end = m.span(group)
                if kind == "person":  # a Chinese name's edges: not the question's characters, not 由/于/的
                    start, end = trim_span(clause, start, end, _FUNCTION_CHARS | _han(cue.chars))
                if start < end:
                    found.append((start, end))
    return found


@lru_cache(maxsize=64)
def gives_asked_kind(phrase: str, cue: Cue) -> bool:
    """Whether the phrase gives an asked-for kind of answer (a count in the measure word the question names)."""
    return bool(_kind_matches(phrase, cue))


def _count_of(measures: str) -> re.Pattern:
    """A count that ends in one of these measure words ("1724名", "三百多人")."""
    return re.compile(rf"(?:约|大约|近|超过|共)?(?:\d[\d,.]*|[{CN_NUMERAL}]+)\s*(?:多|余)?[万亿千百]?[{measures}]")


def _gaps(text: str, cue: Cue) -> list[tuple[int, int, float]]:
    """Where the text may hold the answer in the question word's place: (start, end, share of the question's
    context around the question word matched there). "X有几条跑道" matches "X有三条跑道" around "三"."""
    ends = _occurrences(text, cue.before, suffixes=True)
    starts = _occurrences(text, cue.after, suffixes=False)
    norm = len(cue.before) + len(cue.after)
    gaps = []
    for end, n in ends.items():
        following = [(s, m) for s, m in starts.items() if end < s <= end + MAX_GAP_CHARS]
        if following:
            s, m = max(following, key=lambda sm: sm[1])
            gaps.append((end, s, (n + m) / norm))
        gaps.append((end, end + 1, n / norm))
    gaps.extend((max(0, s - 1), s, m / norm) for s, m in starts.items())
    return gaps


def _occurrences(text: str, context: str, suffixes: bool) -> dict[int, int]:
    """Where the longest suffix (or prefix) of context, of two characters or more, occurs in text: the offset
    just after a suffix, the start of a prefix; each with the matched length."""
    found: dict[int, int] = {}
    for n in range(len(context), 1, -1):
        part = context[-n:] if suffixes else context[:n]
        at = text.find(part)
        while at >= 0:
            found.setdefault(at + n if suffixes else at, n)
            at = text.find(part, at + 1)
    return found


def answer_scores(text: str, clauses: list[tuple[int, int]], scores: list[float], cue: Cue) -> list[float]:
    """How well each clause answers: WEIGHTS over its ClauseFeatures. When none of the question's words occur
    in the passage (a question in another language), the search's clause scores as they are."""
    f = clause_features(text, clauses, scores, cue)
    if not any(f.words):
        return list(scores)
    columns = [(weight, getattr(f, name)) for name, weight in WEIGHTS.items()]
    return [sum(weight * column[i] for weight, column in columns) for i in range(len(clauses))]


def answer_span(text: str, clauses: list[tuple[int, int]], scores: list[float], question: str = "",
                idf: dict[str, float] | None = None, cue: Cue | None = None) -> Answer | None:
    """The sentence holding the clause that best answers the question (`answer_scores`), or that clause and its
    neighbours if the sentence is long; with the exact answer phrase marked when it is clear. `idf`: the question's
    words with their rarity in the collection (words most passages have weigh less, see `common_words_weigh_less`).
    `cue`: those two made into a Cue once, when many passages are answered for one question."""
    if not clauses:
        return None
    cue = cue or common_words_weigh_less(question_cue(question), idf or {})
    ranked = answer_scores(text, clauses, scores, cue) if question else list(scores)
    best = max(range(len(clauses)), key=ranked.__getitem__)
    c_start, c_end = clauses[best]
    s_start, s_end = next(((s, e) for s, e in split_sentences(text) if s <= c_start < e), (0, len(text)))
    s_start, s_end = trim_span(text, s_start, s_end)
    if s_end - s_start > MAX_ANSWER_CHARS:
        first = _neighbour(text, clauses, best, -1, s_start, s_end)
        last = _neighbour(text, clauses, best, 1, s_start, s_end)
        if clauses[last][1] - clauses[first][0] > MAX_NARROWED_CHARS and first < best < last:
            first, last = (first, best) if ranked[first] >= ranked[last] else (best, last)  # the better neighbour
        if clauses[last][1] - clauses[first][0] > MAX_NARROWED_CHARS:
            first = last = best
        s_start, s_end = clauses[first][0], clauses[last][1]
    exact = exact_phrase(text, (c_start, c_end), cue) if question else None
    return Answer(text[s_start:s_end], s_start, s_end, Phrase(text[exact[0]:exact[1]], *exact) if exact else None)


def _neighbour(text: str, clauses: list[tuple[int, int]], best: int, step: int, s_start: int, s_end: int) -> int:
    """The clause next to `best` in direction `step` within the sentence [s_start, s_end), past any clause too
    short to say anything ("即:", "其中,"); `best` itself at the sentence's edge."""
    i = best
    while 0 <= i + step < len(clauses) and s_start <= clauses[i + step][0] and clauses[i + step][1] <= s_end:
        i += step
        a, b = clauses[i]
        if sum(ch.isalnum() for ch in text[a:b]) >= MIN_CLAUSE_LETTERS:
            break
    return i


# --- The exact answer phrase --------------------------------------------------------------------

def exact_phrase(text: str, clause: tuple[int, int], cue: Cue) -> tuple[int, int] | None:
    """(start, end) in text of the answer phrase inside the answering clause: the asked-for kind of answer
    nearest the question's words (`1724名` in "全镇共有党员1724名,"), else the text standing in the question
    word's place between its matched context on both sides; None when neither is clear."""
    a, b = clause
    lowered = text[a:b].lower()
    found = _kind_matches(text[a:b], cue, phrases=True)
    if found:
        start, end = max(found, key=lambda span: (_context_weight(lowered, span, cue), -span[0]))
        start, end = trim_span(lowered, start, end, _PUNCTUATION)
        return (a + start, a + end) if start < end else None
    if not (cue.before and cue.after):
        return None
    full = [(s, e) for s, e, share in _gaps(lowered, cue) if share >= 1.0 and 0 < e - s <= MAX_EXACT_CHARS]
    if not full:
        return None
    start, end = trim_span(lowered, *min(full, key=lambda se: se[1] - se[0]), _PUNCTUATION)
    return (a + start, a + end) if start < end else None


def _context_weight(clause: str, span: tuple[int, int], cue: Cue, reach: int = 8) -> float:
    """The question's words around span, each by its prior weight and by how close it stands (within `reach`)."""
    before, after = clause[max(0, span[0] - reach):span[0]], clause[span[1]:span[1] + reach]
    total = 0.0
    for term, prior in cue.terms:
        distance = min([len(before) - before.rfind(term) - len(term)] * (term in before)
                       + [after.find(term)] * (term in after), default=None)
        if distance is not None:
            total += prior * (1 - distance / reach)
    return total


def _han(chars: frozenset[str]) -> frozenset[str]:
    """The Han characters among chars."""
    return frozenset(ch for ch in chars if is_han(ch))
