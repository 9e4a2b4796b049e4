"""Query latency: `Service.answer` (question in, hits out, everything the service does) against raw encode + FAISS.

The service over a copy of data/ with the default (torch) embedder, its query cache off so every
question is encoded. The raw path: `SentenceTransformer.encode` of the prompted question and a
search of a plain `faiss.IndexFlatIP` holding the same passages' vectors. The questions of the dev,
extra and unanswerable sets, each through both paths, alternating which goes first, `--rounds`
times; p50 and p99 and their ratios. Last, the service with the query cache on, every question
asked again: what the service costs beyond encoding the question.

    python bench/latency.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common import DATA, DEV_SET, ROOT, corpus_passages, percentile

QUESTION_FILES = [DEV_SET, ROOT / "tests" / "data" / "extra_questions.jsonl"]


def questions() -> list[str]:
    out = [json.loads(line)["q"] for f in QUESTION_FILES if f.exists() for line in f.read_text("utf-8").splitlines()
           if line.strip()]
    unanswerable = ROOT / "tests" / "data" / "unanswerable.txt"
    return out + [line.strip() for line in unanswerable.read_text("utf-8").splitlines() if line.strip()]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()

    import faiss

    from qa.embed.base import QueryCache
    from qa.embed.torch_embedder import SentenceTransformerEmbedder
    from qa.service import Service

    embedder = SentenceTransformerEmbedder()
    model, prompt, k = embedder.model, embedder.prompts["query"], args.top_k
    qs = questions()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(DATA, Path(tmp) / "data")
        service = Service(Path(tmp) / "data", Path(tmp) / "index", embedder=embedder)
        service.build()
        passages = corpus_passages(Path(tmp) / "data")
        flat = faiss.IndexFlatIP(embedder.dim)
        flat.add(embedder.embed(passages, "passage"))

        def raw(q: str) -> None:
            vector = model.encode([prompt + q], normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)
            flat.search(np.asarray(vector, dtype=np.float32), k)

        service.answer(qs[0], k)
        raw(qs[0])
        service_t, raw_t = [], []
        for r in range(args.rounds):
            for i, q in enumerate(qs):
                pair = [(service_t, lambda: service.answer(q, k)), (raw_t, lambda: raw(q))]
                for times, fn in pair if (r + i) % 2 else pair[::-1]:
                    times.append(timed(fn))
        cached = Service(Path(tmp) / "data", Path(tmp) / "index", embedder=QueryCache(embedder))
        for q in qs:
            cached.answer(q, k)
        hit_t = [timed(lambda: cached.answer(q, k)) for _ in range(args.rounds) for q in qs]

    def ms(xs: list[float], q: float) -> float:
        return 1000 * percentile(xs, q)

    print(f"{len(qs)} questions x {args.rounds} rounds, both paths alternating, top {k}, {len(passages)} passages")
    print("| | p50 ms | p99 ms |\n|---|---:|---:|")
    print(f"| raw encode + `IndexFlatIP.search` | {ms(raw_t, 50):.1f} | {ms(raw_t, 99):.1f} |")
    print(f"| `Service.answer` (query cache off) | {ms(service_t, 50):.1f} | {ms(service_t, 99):.1f} |")
    p50, p99 = ms(service_t, 50) / ms(raw_t, 50), ms(service_t, 99) / ms(raw_t, 99)
    print(f"| ratio service / raw | {p50:.2f} | {p99:.2f} |")
    print(f"| `Service.answer`, question vector from the cache | {ms(hit_t, 50):.2f} | {ms(hit_t, 99):.2f} |")


if __name__ == "__main__":
    main()
