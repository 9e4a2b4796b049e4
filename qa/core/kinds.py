"""Kinds of answer: what a question asks for (a number, a date, a person...) and how a text that gives one looks.

The search gives a clause a small bonus when it looks like the asked-for kind; since that test runs over
every candidate clause, each clause's kinds are found once, when it is indexed, and stored as a bit mask.
"""

from __future__ import annotations

import re

from qa.core.text import HAN

CN_NUMERAL = "〇零一二两三四五六七八九十百千万亿"
MEASURE = "个名项次户场人位家所条件元岁米里斤克吨亩倍届度张首部本座"
PERSON_TITLE = ("书记|主席|总统|总理|部长|市长|省长|县长|镇长|村长|校长|院长|主任|经理|董事长|会长|社长|局长|队长|领队"
                 "|教练|导演|编剧|制作人|作者|作家|画家|诗人|演员|歌手|主演|创始人|建筑师|设计师|学家|皇帝|国王|将军")
# Question words asking for a kind of answer, and how a clause that gives one looks. The search gives a small
# bonus to clauses that look like the asked-for kind; the span choice weighs them more.
ANSWER_TYPES = {
    "quantity": (
        re.compile(r"\bhow (?:many|much)\b|\bwhat (?:share|percentage|proportion|number)\b|\bnumber of\b"
                   r"|多少|几[个名项次户场人位家所条件]|比例|百分之", re.I),
        re.compile(rf"\d|[{CN_NUMERAL}]+[个名项次户场人位家所条件元岁%％]"),
    ),
    "duration": (
        re.compile(r"\bhow long\b|\bhow old\b|多久|多长时间|多少年|几年", re.I),
        re.compile(rf"[\d{CN_NUMERAL}]+\s*个?[年载月天日周]|世纪"),
    ),
    "date": (
        re.compile(r"\bwhen\b|\bwhat (?:year|date|day|time)\b|\bwhich (?:year|month|day)\b"
                   r"|什么时候|何时|哪一?年|哪一?天|周几|星期几|几月|几号", re.I),
        re.compile(rf"\d+\s*[年月日]|[{CN_NUMERAL}]+[年月日]|[周星期][一二三四五六日天]|今年|去年|明年"),
    ),
    "person": (
        re.compile(r"谁|哪一?位|何人|什么人(?!口)|\bwho(?:m|se)?\b", re.I),
        re.compile(rf"[{HAN}]{{1,4}}·[{HAN}]{{1,6}}|[{HAN}]{{2,3}}(?:先生|女士|教授|博士)"
                   rf"|[A-Z][a-z]+(?: [A-Z][a-z.]+)+"
                   rf"|(?:{PERSON_TITLE})[{HAN}]{{2,3}}"),
    ),
    "place": (
        re.compile(rf"哪里|哪儿|何处|何地|在哪(?![{HAN}])|什么地方|哪[个些]?地[方区]|什么地区|哪[个一座]?(?:国家|城市|省|州|县|国)"
                   r"|\bwhere\b|\bwhich (?:country|city|province|place|region|town|village)\b", re.I),
        re.compile(rf"[{HAN}]{{2,}}(?:国|省|市|县|州|郡|镇|乡|村|区|岛|山|河|湖|江|海|洲|路|街|港|湾)(?![{HAN}])"
                   rf"|位于|地处|坐落|分布于|生长于"),
    ),
    "organisation": (
        re.compile(r"(?:什么|哪[个家所一]?)(?:公司|企业|集团|组织|机构|部门|单位|团体|大学|学校|学院|球队|俱乐部|政党|银行"
                   r"|协会|电视台|报社|出版社|杂志|报纸)"
                   r"|\b(?:which|what) (?:company|organi[sz]ation|university|school|team|club|party|bank|agency)\b",
                   re.I),
        re.compile(rf"[{HAN}A-Za-z]{{2,}}(?:公司|集团|银行|大学|学院|中学|小学|协会|学会|委员会|组织|俱乐部|队|党"
                   rf"|基金会|电视台|报社|出版社|研究所|研究院)"),
    ),
    "title": (
        re.compile(r"(?:哪|什么)[部首本篇张]|(?:什么|哪个)(?:节目|作品|电影|歌曲|专辑|小说|书|剧)"
                   r"|\b(?:which|what) (?:book|film|movie|song|album|programme|program|show|novel|play)\b", re.I),
        re.compile(r"《[^》]+》|「[^」]+」|“[^”]+”"),
    ),
}


KINDS = tuple(ANSWER_TYPES)  # bit i of a kind mask is KINDS[i]


def question_types(question: str) -> list[bool]:
    """For each kind of ANSWER_TYPES (quantity, duration, date, person, ...): whether the question asks for it."""
    return [bool(asks.search(question)) for asks, _ in ANSWER_TYPES.values()]


def question_kind(question: str) -> str:
    """The first kind of answer of ANSWER_TYPES the question asks for, else "other"."""
    return next((kind for kind, (asks, _) in ANSWER_TYPES.items() if asks.search(question)), "other")


def answer_types(text: str) -> list[bool]:
    """For each kind of ANSWER_TYPES: whether text looks like an answer of that kind."""
    return [bool(gives.search(text)) for _, gives in ANSWER_TYPES.values()]


def kinds_of(question: str) -> tuple[str, ...]:
    """The names of the kinds the question asks for, in the order of ANSWER_TYPES."""
    return tuple(kind for kind, asked in zip(KINDS, question_types(question)) if asked)


def kind_mask(kinds: tuple[str, ...]) -> int:
    """Kind names as a bit mask over KINDS."""
    return sum(1 << KINDS.index(kind) for kind in kinds)


def kinds_asked(question: str) -> int:
    """The kinds the question asks for, as a bit mask over KINDS."""
    return kind_mask(kinds_of(question))


def kinds_given(text: str) -> int:
    """The kinds text looks like an answer of, as a bit mask over KINDS."""
    return sum(1 << i for i, given in enumerate(answer_types(text)) if given)
