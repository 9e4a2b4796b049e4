"""Where the confidence and relevance lines fall, for the default embedder (QA_EMBEDDER picks another).

Confidence: each question's best whole-passage cosine, answerable or not, by script. Two collections: data/
(asked the dev and extra sets, and tests/data/unanswerable.txt) and the CMRC trial documents (asked their
own questions, and the same unanswerable questions). For each group: how many questions, the range and
10th/90th percentiles of the best cosine, and how many fall under the lines in qa/answer/search.py.

Relevance: on data/, the dense score (half passage, half best clause) of the top 5 hits of each question,
split into hits that hold the evidence, the other hits of answerable questions, and the hits of
unanswerable ones: where the "medium" and "high" lines of qa/answer/search.py sit among them. Markdown tables.

    python bench/confidence.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from common import DATA, DEV_SET, ROOT

CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018-trial"
EXTRA_SET = ROOT / "tests" / "data" / "extra_questions.jsonl"
UNANSWERABLE = ROOT / "tests" / "data" / "unanswerable.txt"


def jsonl_questions(path: Path) -> list[str]:
    return [q for line in path.read_text("utf-8").splitlines() if line.strip() and (q := json.loads(line)["q"].strip())]


def best_cosines(service, questions: list[str]) -> list[tuple[str, float, bool]]:
    """(question, best passage cosine, whether its script matches the best passage's) for each question."""
    from qa.answer.search import CONFIDENT_SAME_SCRIPT, confidence_threshold

    collection = service.open()
    ids = np.arange(service.store.next_id())
    out = []
    for q in questions:
        cosines = collection.cosines(service.embedder.embed([q], "query")[0], ids)
        best = int(np.argmax(cosines))
        text = collection.passages([int(ids[best])])[int(ids[best])].text
        out.append((q, float(cosines[best]), confidence_threshold(q, text) == CONFIDENT_SAME_SCRIPT))
    return out


def hit_scores(service, items: list[tuple[str, list[str]]]) -> list[tuple[bool, str, float]]:
    """(same script, group, dense score) of the top 5 hits of each (question, evidence) pair."""
    from qa.answer.search import _mostly_han, score

    collection, out = service.open(), []
    for question, evidence in items:
        s = score(collection, question, service.embedder.embed([question], "query")[0])
        top = np.argsort(-s.fused)[:5]
        texts = collection.passages([int(s.ids[r]) for r in top])
        for r in top:
            text = texts[int(s.ids[r])].text
            group = ("unanswerable" if not evidence else "answering hit" if any(e in text for e in evidence)
                     else "other hit of an answerable question")
            out.append((_mostly_han(question) == _mostly_han(text), group, float(s.dense[r])))
    return out


def main() -> None:
    from qa.answer.search import CONFIDENT_CROSS_SCRIPT, CONFIDENT_SAME_SCRIPT
    from qa.service import Service

    answerable = jsonl_questions(DEV_SET) + jsonl_questions(EXTRA_SET)
    unanswerable = [line.strip() for line in UNANSWERABLE.read_text("utf-8").splitlines() if line.strip()]
    rows, hits = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data, asked in (("data/", DATA, answerable), ("CMRC trial", CMRC / "data",
                                                                 jsonl_questions(CMRC / "questions.jsonl"))):
            shutil.copytree(data, Path(tmp) / name.replace("/", ""))
            service = Service(Path(tmp) / name.replace("/", ""), Path(tmp) / f"{name.replace('/', '')}-index")
            service.build()
            if name == "data/":
                evidence = [(json.loads(line)["q"], json.loads(line)["any"]) for f in (DEV_SET, EXTRA_SET)
                            for line in f.read_text("utf-8").splitlines() if line.strip()]
                hits = hit_scores(service, evidence + [(q, []) for q in unanswerable])
            for label, questions in (("answerable", asked), ("unanswerable", unanswerable)):
                best = best_cosines(service, questions)
                for same, script in ((True, "same script"), (False, "across scripts")):
                    found = [c for _, c, s in best if s == same]
                    if found:
                        line = CONFIDENT_SAME_SCRIPT if same else CONFIDENT_CROSS_SCRIPT
                        rows.append((name, label, script, found, line))
            print(f"model: {service.embedder.name}")
    print("| collection | questions | script | n | best cosine min – max | p10 / p90 | under the line |")
    print("| --- | --- | --- | ---: | --- | --- | ---: |")
    for name, label, script, found, line in rows:
        print(f"| {name} | {label} | {script} | {len(found)} | {min(found):.3f} – {max(found):.3f} | "
              f"{np.percentile(found, 10):.3f} / {np.percentile(found, 90):.3f} | "
              f"{sum(c < line for c in found)} (line {line}) |")

    from qa.answer.search import RELEVANCE_CROSS_SCRIPT, RELEVANCE_SAME_SCRIPT

    print("\n| data/, top 5 hits | script | n | dense p10 / p50 / p90 | min – max | medium, high lines |")
    print("| --- | --- | ---: | --- | --- | --- |")
    for same, script, lines in ((True, "same script", RELEVANCE_SAME_SCRIPT),
                                (False, "across scripts", RELEVANCE_CROSS_SCRIPT)):
        for group in ("answering hit", "other hit of an answerable question", "unanswerable"):
            found = [d for s, g, d in hits if s == same and g == group]
            if found:
                p10, p50, p90 = np.percentile(found, [10, 50, 90])
                print(f"| {group} | {script} | {len(found)} | {p10:.3f} / {p50:.3f} / {p90:.3f} | "
                      f"{min(found):.3f} – {max(found):.3f} | {lines[0]}, {lines[1]} |")


if __name__ == "__main__":
    main()
