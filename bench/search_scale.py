"""Search at scale through the service's own code: a FolderStore build of N passages, then `qa.answer.search.search`.

    python bench/search_scale.py                          # 100k and 1M, each in its own process
    python bench/search_scale.py --sizes 100000 --one     # one size in this process (what the parent runs)

Passages: synthesized Chinese texts (three corpus clauses each), ids 0..N-1, a document per 1,000.
Vectors: as in bench/scale.py (10k real embeddings, then noisy copies); each clause's vector is its
passage's plus noise. Questions: 200 real query embeddings and their texts (bench/scale.py's).
Per size: the build (`FolderStore.commit`: vector index chosen by qa.index.ann, SQLite, clause vectors,
BM25), peak RSS, disk, open time, and per question, pre-encoded so that only search is timed:
`search()` (dense and BM25 candidates, rescoring with clause vectors, answer spans, metadata)
against the raw FAISS search of the same index.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, median, peak_rss_mib, percentile, print_table, synthetic_passages, synthetic_rows
from scale import CHUNK, base_vectors, collection

PER_DOCUMENT = 1_000
CLAUSE_NOISE = 0.02


def build(folder: Path, n: int):
    """A complete build of n synthesized passages in `folder`; its manifest."""
    from qa.passages.chunking import clause_table
    from qa.index.base import BuildSpec, Change, Clauses
    from qa.index.faiss_store import FolderStore

    base, _ = base_vectors()
    vectors = collection(n, base)
    passages, documents = synthetic_rows(n, PER_DOCUMENT)
    table = clause_table(passages)
    rng = np.random.default_rng(3)
    clause_vectors = np.empty((len(table), vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(table), CHUNK):  # float32 in chunks: 3M clauses of float64 noise would take 9 GB
        rows = table[start : start + CHUNK, 0]
        part = vectors[rows] + rng.normal(0, CLAUSE_NOISE, (len(rows), vectors.shape[1])).astype(np.float32)
        clause_vectors[start : start + len(rows)] = part / np.linalg.norm(part, axis=1, keepdims=True)
    spec = BuildSpec(model="bench", dim=vectors.shape[1], fingerprint="bench", pipeline=0)
    change = Change(full=True, spec=spec, documents=documents, removed=[], passages=passages, vectors=vectors,
                    clauses=Clauses.from_table(table, clause_vectors))
    return FolderStore(folder).commit(change), len(table)


def one(n: int, repeats: int) -> dict:
    from qa.answer.search import search
    from qa.index.faiss_store import FolderStore

    _, queries = base_vectors()
    questions = synthetic_passages(len(queries), seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        manifest, clauses = build(Path(tmp), n)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        store = FolderStore(Path(tmp))
        col = store.open()
        open_s = time.perf_counter() - started
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        ours, raw = [], []
        for _ in range(repeats):
            for text, q in zip(questions, queries):
                t = time.perf_counter()
                col.vectors.search(q.reshape(1, -1), 5)
                raw.append(time.perf_counter() - t)
                t = time.perf_counter()
                search(col, text, q, 5)
                ours.append(time.perf_counter() - t)
        col.close()
    ms = lambda xs, p: round(percentile(xs, p) * 1000, 2)  # noqa: E731
    return {"passages": n, "clauses": clauses, "index": manifest.vector_index, "build_s": round(build_s, 1),
            "peak_rss_mib": round(peak_rss_mib()), "disk_mib": round(disk / 2**20), "open_s": round(open_s, 2),
            "search_p50_ms": ms(ours, 50), "search_p99_ms": ms(ours, 99), "faiss_p50_ms": ms(raw, 50),
            "faiss_p99_ms": ms(raw, 99), "ratio_p50": round(median(ours) / median(raw), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", action="store_true", help="run the one size in this process")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.sizes[0], args.repeats)))
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--sizes", str(n), "--repeats", str(args.repeats), "--one"],
                             check=True, capture_output=True, text=True, cwd=ROOT).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
