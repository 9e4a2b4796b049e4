"""Query latency: hybrid search (Service.answer) against dense-only search, interleaved in one run.

    python bench/hybrid_latency.py [--rounds 5] [--scale 1 --scale 30]

Builds an index of data/ with the default model in a temporary folder. `--scale N` also measures
an index holding every passage N times (the vectors are reused, not re-embedded), to show how the
per-passage work grows. Both paths embed the question; dense-only then takes the FAISS top k.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.embedding import SentenceTransformerEmbedder  # noqa: E402
from qa.index import FaissStore, load_index, write_build  # noqa: E402
from qa.search import dense_search, search, to_hits  # noqa: E402
from qa.service import Service  # noqa: E402

QUESTION_FILES = [ROOT.parent / "shared" / "eval" / "dev.jsonl", ROOT / "tests" / "data" / "extra_questions.jsonl"]


def questions() -> list[str]:
    out = [json.loads(line)["q"] for f in QUESTION_FILES if f.exists() for line in f.read_text("utf-8").splitlines()
           if line.strip()]
    out += [line.strip() for line in (ROOT / "tests" / "data" / "unanswerable.txt").read_text("utf-8").splitlines()
            if line.strip()]
    return out


def scaled_index(index, folder: Path, scale: int):
    """A copy of a loaded index whose documents and passages are repeated `scale` times, vectors reused."""
    documents, passages = index.passages.document_rows(), index.passages.passage_rows()
    step = max(p.id for p in passages) + 1
    vectors = FaissStore(index.vectors.dim)
    clause_vectors = index.clauses.index.reconstruct_n(0, len(index.clauses))
    copies = []
    for c in range(scale):
        rows = [replace(p, id=p.id + c * step, doc=f"copy{c}/{p.doc}") for p in passages]
        vectors.add(np.array([r.id for r in rows]), np.stack([index.vectors.index.reconstruct(p.id) for p in passages]))
        copies += rows
    docs = [replace(d, path=f"copy{c}/{d.path}") for c in range(scale) for d in documents]
    write_build(folder, {"model": index.manifest.model, "dim": index.manifest.dim, "fingerprint": "bench"}, docs,
                copies, vectors, np.tile(clause_vectors, (scale, 1)))
    return load_index(folder)


def measure(embedder, index, qs: list[str], rounds: int, top_k: int) -> dict[str, list[float]]:
    """Per-question seconds for each path, alternating which goes first; also the search alone (vector given)."""
    times = {"dense": [], "hybrid": [], "dense search": [], "hybrid search": []}
    vectors = {q: embedder.embed([q], "query")[0] for q in qs}
    paths = {
        "dense": lambda q: to_hits(index, dense_search(index, embedder.embed([q], "query")[0], top_k)),
        "hybrid": lambda q: search(index, q, embedder.embed([q], "query")[0], top_k),
        "dense search": lambda q: to_hits(index, dense_search(index, vectors[q], top_k)),
        "hybrid search": lambda q: search(index, q, vectors[q], top_k),
    }
    for r in range(rounds):
        for i, q in enumerate(qs):
            names = list(paths) if (r + i) % 2 == 0 else list(reversed(paths))
            for name in names:
                t = time.perf_counter()
                paths[name](q)
                times[name].append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--scale", type=int, action="append", help="passage copies (repeatable); default 1")
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    qs = questions()
    base = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        shutil.copytree(ROOT / "data", base / "data")
        service = Service(base / "data", base / "index", embedder=embedder)
        service.build()
        print(f"{len(qs)} questions x {args.rounds} rounds, top {args.top_k}\n")
        print("| passages | dense-only median ms | hybrid median ms | ratio | dense p90 ms | hybrid p90 ms "
              "| search alone: dense ms | hybrid ms |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for scale in args.scale or [1]:
            index = service.open() if scale == 1 else scaled_index(service.open(), base / f"index-x{scale}", scale)
            measure(embedder, index, qs[:3], 1, args.top_k)  # warm up
            t = measure(embedder, index, qs, args.rounds, args.top_k)
            med = {k: statistics.median(v) * 1000 for k, v in t.items()}
            p90 = {k: float(np.percentile(v, 90)) * 1000 for k, v in t.items()}
            print(f"| {len(index.vectors):,} | {med['dense']:.1f} | {med['hybrid']:.1f} | "
                  f"{med['hybrid'] / med['dense']:.2f} | {p90['dense']:.1f} | {p90['hybrid']:.1f} | "
                  f"{med['dense search']:.2f} | {med['hybrid search']:.2f} |")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
