"""What the reader costs a question: `Service.answer` with the reader on and off, and the raw torch encode.

The service over a copy of data/ with the default embedder (onnx-int8) and its query cache off, so every
question is encoded; once with the reader (QA_READER on, the default) and once without, side by side in
one process, alternating which goes first. The raw path is sentence-transformers' `encode` of the
prompted question on torch. The questions of the dev, extra and unanswerable sets, `--rounds` times.

    python bench/reader.py --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
from pathlib import Path

from common import DATA, percentile
from latency import questions, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()

    from qa.core.settings import Settings
    from qa.embed.factory import make_embedder
    from qa.embed.torch_embedder import SentenceTransformerEmbedder
    from qa.service import Service

    settings = Settings()
    embedder = make_embedder(settings).inner  # no query cache: every question is encoded
    torch_model = SentenceTransformerEmbedder()
    qs, k = questions(), args.top_k
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(DATA, Path(tmp) / "data")
        folders = (Path(tmp) / "data", Path(tmp) / "index")
        on = Service(*folders, embedder=embedder, settings=settings)
        off = Service(*folders, embedder=embedder, settings=dataclasses.replace(settings, reader=False))
        on.warm_up()
        off.warm_up()
        paths = {"reader on": on.answer, "reader off": off.answer,
                 "raw torch encode": lambda q, k: torch_model.embed([q], "query")}
        times: dict[str, list[float]] = {name: [] for name in paths}
        for r in range(args.rounds):
            for i, q in enumerate(qs):
                order = list(paths) if (r + i) % 2 else list(paths)[::-1]
                for name in order:
                    times[name].append(timed(lambda: paths[name](q, k)))
    print(f"{len(qs)} questions x {args.rounds} rounds, alternating, top {k}")
    print("| | p50 ms | p90 ms | p99 ms |\n|---|---:|---:|---:|")
    for name, xs in times.items():
        print(f"| {name} | {1000 * percentile(xs, 50):.1f} | {1000 * percentile(xs, 90):.1f} | "
              f"{1000 * percentile(xs, 99):.1f} |")
    on_p50, off_p50 = percentile(times["reader on"], 50), percentile(times["reader off"], 50)
    print(f"| ratio on / off (p50) | {on_p50 / off_p50:.2f} | | |")


if __name__ == "__main__":
    main()
