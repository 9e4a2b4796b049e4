"""Re-index after one change vs. a full build, on generated documents, in one run with the real model.

    python bench/reindex.py [--docs 1000] [--repeat 3]

Documents are two paragraphs each of distinct runs of clauses from the articles in data/
(common.synthetic_documents), so no two passages are alike. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import synthetic_documents

from qa import Service
from qa.embed.torch_embedder import SentenceTransformerEmbedder

PARAGRAPHS_PER_DOCUMENT = 2


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
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["预热"], "passage")  # load and warm up outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        data, index = Path(tmp) / "data", Path(tmp) / "index"
        # One document more than indexed, held back to be added later.
        synthetic_documents(Path(tmp) / "all", (args.docs + 1) * PARAGRAPHS_PER_DOCUMENT, PARAGRAPHS_PER_DOCUMENT)
        documents = sorted((Path(tmp) / "all").iterdir())
        data.mkdir()
        for path in documents[:-1]:
            shutil.copy(path, data)
        service = Service(data, index, embedder=embedder)

        full, report = timed(service)
        rows = [("full build (empty index)", full, report)]
        for r in range(args.repeat):
            path = data / documents[rng.randrange(args.docs)].name
            path.write_text(path.read_text(encoding="utf-8").replace("。", f"（第{r + 1}次修订）。", 1), encoding="utf-8")
            rows.append(("re-index after changing one document", *timed(service)))
        shutil.copy(documents[-1], data)
        rows.append(("re-index after adding one document", *timed(service)))
        (data / documents[0].name).unlink()
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
