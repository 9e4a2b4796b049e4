"""Training questions for the reader from SQuAD-format files: `python -m qa.answer.reader.data OUT FILE:NAME ...`.

Each FILE is a SQuAD-format JSON file (DRCD, CMRC 2018 train); NAME tags its questions. Traditional Chinese
sources are kept as they are and added again in Simplified (`FILE:NAME:t2s`, OpenCC), so the reader reads both.
Every answer is checked against its passage; those that do not match (or no longer do after conversion) are
left out. The output is JSONL: {id, question, context, answers: [{text, start}], source, group}; `group` names the
passage (the same in both scripts), so a held-out split never has a passage on both sides.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from qa.core.files import write_atomically


def squad_items(path: Path, source: str, convert: Callable[[str], str] | None = None) -> Iterator[dict]:
    """The questions of a SQuAD-format file whose answers are found in their passage (converted when asked)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            context = paragraph["context"]
            converted = convert(context) if convert else context
            for qa in paragraph["qas"]:
                answers = []
                for a in qa.get("answers", []):
                    start = located(converted, convert(a["text"]) if convert else a["text"], a["answer_start"])
                    if start is not None:
                        answers.append({"text": (convert(a["text"]) if convert else a["text"]), "start": start})
                if not answers and not qa.get("is_impossible"):
                    continue
                question = convert(qa["question"]) if convert else qa["question"]
                yield {"id": f"{source}-{qa['id']}", "question": question, "context": converted,
                       "answers": answers[:1], "source": source, "group": f"{path.name}#{a}.{p}"}


def located(context: str, answer: str, start: int) -> int | None:
    """Where `answer` is in `context`: at `start` if it is there, else its nearest occurrence; None if nowhere."""
    answer = answer.strip()
    if not answer:
        return None
    if context[start:start + len(answer)] == answer:
        return start
    found, at = [], context.find(answer)
    while at >= 0:
        found.append(at)
        at = context.find(answer, at + 1)
    return min(found, key=lambda i: abs(i - start)) if found else None


def main(argv: list[str] | None = None) -> None:
    """Write the training JSONL from the files named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("sources", nargs="+", help="FILE:NAME or FILE:NAME:t2s (also in Simplified Chinese)")
    args = parser.parse_args(argv)
    written: list[int] = []
    write_atomically(args.out, lambda path: written.append(write_items(path, args.sources)))
    print(f"wrote {written[0]} questions to {args.out}")


def write_items(path: Path, sources: list[str]) -> int:
    """Write the questions of every FILE:NAME[:t2s] source to `path` as JSONL, each (question, passage) once."""
    seen, count = set(), 0
    with open(path, "w", encoding="utf-8") as out:
        for spec in sources:
            file, name, *how = spec.split(":")
            passes = [(name, None)]
            if how == ["t2s"]:
                from opencc import OpenCC

                passes.append((name + "-simplified", OpenCC("t2s").convert))
            for source, convert in passes:
                for item in squad_items(Path(file), source, convert):
                    key = (item["question"], item["context"])
                    if key not in seen:
                        seen.add(key)
                        out.write(json.dumps(item, ensure_ascii=False) + "\n")
                        count += 1
    return count


if __name__ == "__main__":
    main()
