"""Scale: the FAISS index `qa.index.ann` chooses at 10k, 100k and 1M passages, built and searched with faiss directly.

10k: real default-model embeddings of synthesized Chinese passages (clauses of the corpus).
100k and 1M: those embeddings plus Gaussian noise, renormalized (cosine ~0.9 to their source).
Queries: real query embeddings of 200 other synthesized texts.
Each size runs in its own process so its peak RSS is its own. Per size: the index choice, build
time (train + add), the index's memory (RSS growth over the build), peak RSS of the process (it holds
the float32 vectors too), index size on disk, load time, single-query search latency p50/p99
(wall and CPU) of the chosen index and of exact search, recall@10 against exact search.

    python bench/scale.py                      # 10k 100k 1M; the first run embeds the 10k (minutes, cached)
    python bench/scale.py --sizes 10000 --one  # one size in this process (what the parent runs)
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
from common import ROOT, embedded, median, peak_rss_mib, percentile, synthetic_passages

NOISE = 0.025  # per-dimension sigma: a derived vector keeps cosine ~0.9 to its source, like a near-paraphrase
CHUNK = 100_000


def base_vectors() -> tuple[np.ndarray, np.ndarray]:
    """(10k real passage vectors, 200 real query vectors)."""
    passages = embedded(lambda: synthetic_passages(10_000), "passage", "synthetic-10000")
    queries = embedded(lambda: synthetic_passages(200, seed=1), "query", "synthetic-200-seed1")
    return passages, queries


def collection(n: int, base: np.ndarray, seed: int = 0) -> np.ndarray:
    """n unit vectors: the real ones first, then noisy copies of them."""
    if n <= len(base):
        return np.ascontiguousarray(base[:n])
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    out[: len(base)] = base
    for start in range(len(base), n, CHUNK):
        stop = min(n, start + CHUNK)
        part = base[np.arange(start, stop) % len(base)]
        part += NOISE * rng.standard_normal(part.shape, dtype=np.float32)
        out[start:stop] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def latencies(search, queries: np.ndarray, repeats: int) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds per single-query search, every query `repeats` times."""
    wall, cpu = [], []
    for _ in range(repeats):
        for q in queries:
            t, c = time.perf_counter(), time.process_time()
            search(q.reshape(1, -1))
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return wall, cpu


def rss_mib() -> float:
    """Resident memory of this process now, in MiB."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def run_one(n: int, repeats: int, budget: int | None) -> dict:
    """Build, save, load and search the chosen index over n vectors."""
    import faiss

    from qa.index.ann import DEFAULT_MEMORY_BUDGET, choose_faiss_index, make_faiss_index, train_if_needed

    base, queries = base_vectors()
    vectors = collection(n, base)
    choice = choose_faiss_index(n, vectors.shape[1], budget or DEFAULT_MEMORY_BUDGET)
    before = rss_mib()
    t = time.perf_counter()
    index = make_faiss_index(choice)
    train_if_needed(index, vectors)
    index.add_with_ids(vectors, np.arange(n, dtype=np.int64))
    build = time.perf_counter() - t
    index_rss = rss_mib() - before
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.faiss"
        faiss.write_index(index, str(path))
        size = path.stat().st_size
        del index
        t = time.perf_counter()
        index = faiss.read_index(str(path))
        load = time.perf_counter() - t
    def exact(q: np.ndarray):
        return faiss.knn(q, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)

    _, truth = exact(queries)
    _, found = index.search(queries, 10)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)]))
    approx, approx_cpu = latencies(lambda q: index.search(q, 10), queries, repeats)
    flat, flat_cpu = latencies(exact, queries[:50], 1)
    return {
        "n": n, "index": choice.spec, "build_s": build, "peak_rss_mib": peak_rss_mib(),
        "vectors_mib": vectors.nbytes / 2**20, "index_rss_mib": index_rss, "disk_mib": size / 2**20,
        "load_s": load, "search_p50_ms": 1000 * median(approx), "search_p99_ms": 1000 * percentile(approx, 99),
        "search_cpu_p50_ms": 1000 * median(approx_cpu), "exact_p50_ms": 1000 * median(flat),
        "exact_cpu_p50_ms": 1000 * median(flat_cpu), "recall_at_10": recall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="times each query is timed")
    parser.add_argument("--budget-mb", type=int, default=None, help="index memory budget (default: the service's)")
    parser.add_argument("--one", action="store_true", help="run the sizes in this process, print JSON lines")
    args = parser.parse_args()
    budget = args.budget_mb << 20 if args.budget_mb else None
    if args.one:
        for n in args.sizes:
            print(json.dumps(run_one(n, args.repeats, budget)), flush=True)
        return
    base_vectors()  # compute and cache the real embeddings once, before the timed children
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", "--sizes", str(n), "--repeats", str(args.repeats)]
        if args.budget_mb:
            cmd += ["--budget-mb", str(args.budget_mb)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| passages | index | build s | index in RAM, MiB | peak RSS MiB (float32 vectors) | disk MiB | load s | "
          "search p50 / p99 ms (wall) | search p50 ms (CPU) | exact p50 ms (wall / CPU) | recall@10 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['index']} | {r['build_s']:.1f} | {r['index_rss_mib']:.0f} | "
              f"{r['peak_rss_mib']:.0f} ({r['vectors_mib']:.0f}) | {r['disk_mib']:.0f} | "
              f"{r['load_s']:.2f} | {r['search_p50_ms']:.2f} / {r['search_p99_ms']:.2f} | "
              f"{r['search_cpu_p50_ms']:.2f} | {r['exact_p50_ms']:.2f} / {r['exact_cpu_p50_ms']:.2f} | "
              f"{r['recall_at_10']:.3f} |")


if __name__ == "__main__":
    main()
