"""Re-index after one change vs. a full build, on generated documents, in one run with the real model.

    /work/main/.venv/bin/python bench/reindex.py [--docs 1000] [--repeat 3]

Documents are short Chinese notices made from sentences of the articles in data/, each with its own
number so no two passages are alike. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa import Service  # noqa: E402
from qa.embedding import SentenceTransformerEmbedder  # noqa: E402
from qa.ingest import load_documents  # noqa: E402


def sentences() -> list[str]:
    """Sentences of the real articles, to build documents from."""
    docs, _ = load_documents(ROOT / "data")
    text = "".join(p.text for d in docs for p in d.paragraphs)
    return [s for s in re.findall(r"[^。！？]+[。！？]", text) if 15 <= len(s) <= 120]


def document(number: int, pool: list[str], rng: random.Random) -> str:
    """A notice of two paragraphs of three sentences each, numbered so its passages are its own."""
    paragraphs = [f"第{number}号简报第{k}段：" + "".join(rng.sample(pool, 3)) for k in (1, 2)]
    return f"横沥镇工作简报第{number}号\n来源：横沥镇 时间：2023-05-18\n" + "\n".join(paragraphs) + "\n"


def timed(service: Service, **kwargs):
    started = time.perf_counter()
    report = service.build(**kwargs)
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="one-change re-indexes to time (median reported)")
    args = parser.parse_args()

    rng = random.Random(0)
    pool = sentences()
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["预热"], "passage")  # load and warm up outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        data, index = Path(tmp) / "data", Path(tmp) / "index"
        data.mkdir()
        for i in range(args.docs):
            (data / f"notice-{i:04}.txt").write_text(document(i, pool, rng), encoding="utf-8")
        service = Service(data, index, embedder=embedder)

        full, report = timed(service)
        rows = [("full build (empty index)", full, report)]
        for r in range(args.repeat):
            path = data / f"notice-{rng.randrange(args.docs):04}.txt"
            path.write_text(path.read_text(encoding="utf-8").replace("第1段：", f"第1段（第{r + 1}次修订）："),
                            encoding="utf-8")
            rows.append(("re-index after changing one document", *timed(service)))
        (data / "notice-new.txt").write_text(document(args.docs, pool, rng), encoding="utf-8")
        rows.append(("re-index after adding one document", *timed(service)))
        (data / "notice-0000.txt").unlink()
        rows.append(("re-index after deleting one document", *timed(service)))
        rows.append(("check with nothing changed", *timed(service)))

    print(f"{args.docs} documents, {report.passages} passages, model {embedder.name}, one run\n")
    print("| step | seconds | % of full build | read | embedded |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds, rep in rows:
        print(f"| {name} | {seconds:.2f} | {100 * seconds / full:.1f}% | {rep.read} | {rep.embedded} |")
    changes = [seconds for name, seconds, _ in rows if name.startswith("re-index after changing")]
    print(f"\nOne changed document, median of {len(changes)}: {statistics.median(changes):.2f} s = "
          f"{100 * statistics.median(changes) / full:.1f}% of the full build (target < 5%).")


if __name__ == "__main__":
    main()
