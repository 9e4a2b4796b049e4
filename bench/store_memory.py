"""Memory per passage of each vector index kind, at given collection sizes.

    python bench/store_memory.py --sizes 100000 1000000 --kinds flat ivf-sq8 ivf-pq hnsw
    python bench/store_memory.py --sizes 20000 100000 --kinds milvus-lite

Each (kind, size) is built in one process, saved, and opened in a fresh process, which reports its
resident-set growth from opening the index and answering one query: the index's memory. Vectors
are random unit vectors of the default model's 384 dimensions (memory does not depend on the
values; recall does, and is not measured here). Kinds:

  flat, ivf-sq8, ivf-pq   the FAISS indexes qa.index.ann builds (FaissVectors), parameters from choose_faiss_index's rules
  hnsw                    faiss IndexHNSWFlat M=32 (qa.index.ann does not offer it: it cannot remove vectors)
  milvus-lite             the Milvus store on Milvus Lite: FLAT vectors, passage texts and metadata, BM25 on the text,
                          clauses and documents collections (MilvusStore.commit), texts cycling through data/'s passages
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import DATA

DIM = 384


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def vectors(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    out = rng.standard_normal((n, DIM), dtype=np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def choice(kind: str, n: int):
    """qa.index.ann's parameters for `kind` at n passages (nlist ~sqrt(n), nprobe nlist/32, PQ one byte per 4 dims)."""
    from qa.index.ann import IndexChoice, _pq_subquantizers, choose_faiss_index

    ivf = choose_faiss_index(max(n, 30_000), DIM, 1 << 40)  # an IVF choice's nlist and nprobe for this size
    if kind == "flat":
        return IndexChoice("flat", DIM)
    return IndexChoice(kind, DIM, ivf.nlist, ivf.nprobe, _pq_subquantizers(DIM) if kind == "ivf-pq" else 0)


def build(kind: str, n: int, out: Path) -> None:
    import faiss

    x = vectors(n)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        index.add(x)
        faiss.write_index(index, str(out / "vectors.faiss"))
    elif kind == "milvus-lite":
        build_milvus(x, out)
    else:
        from qa.index.faiss_store import FaissVectors

        store = FaissVectors(DIM, choice=choice(kind, n))
        store.add(np.arange(n, dtype=np.int64), x)
        store.save(out / "vectors.faiss")


def build_milvus(x: np.ndarray, out: Path) -> None:
    from qa.passages.chunking import Passage, split_passages
    from qa.read.folder import load_documents
    from qa.index.base import BuildSpec, Change, Clauses, DocumentRow
    from qa.index.milvus_store import milvus_store

    documents = load_documents(DATA).documents
    real = [p for d in documents for p in split_passages(d)]
    rows = [DocumentRow(d.document, d.meta, sha256="") for d in documents]
    passages = [Passage(id=i, document=real[i % len(real)].document, position=i, text=real[i % len(real)].text,
                        start=0, end=0)
                for i in range(len(x))]
    store = milvus_store(str(out / "milvus.db"), out / "index")
    store.commit(Change(full=True, spec=BuildSpec(model="bench", dim=DIM, fingerprint="", pipeline=0), documents=rows,
                        removed=[], passages=passages, vectors=x, clauses=Clauses.empty(DIM)))
    store.close()


def measure(kind: str, out: Path) -> int:
    """Resident-set growth of opening the index and answering one query (run in a fresh process)."""
    before = rss_bytes()
    query = vectors(1)
    if kind == "milvus-lite":
        from qa.index.milvus_store import milvus_store

        store = milvus_store(str(out / "milvus.db"), out / "index")
        before = rss_bytes()  # Lite's server is running: count what the collections add
        collection = store.open()
        collection.dense(query[0], 10)
        collection.lexical("党员", 10)
    else:
        import faiss

        index = faiss.read_index(str(out / "vectors.faiss"))
        index.search(query, 10)
    return rss_bytes() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf-sq8", "ivf-pq", "hnsw"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-store-memory"))
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, folder = args.measure
        if kind != "milvus-lite":
            import faiss  # noqa: F401  (imported before the baseline, like the Milvus client)
        print(measure(kind, Path(folder)))
        return
    print("| index | passages | build s | disk MB | RAM MB | RAM bytes per passage |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in args.kinds:
        for n in args.sizes:
            out = args.work / f"{kind}-{n}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            started = time.perf_counter()
            build(kind, n, out)
            seconds = time.perf_counter() - started
            disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            grown = int(subprocess.run([sys.executable, __file__, "--measure", kind, str(out)], check=True,
                                       capture_output=True, text=True).stdout.split()[-1])
            print(f"| {kind} | {n:,} | {seconds:.0f} | {disk / 1e6:.0f} | {grown / 1e6:.0f} | {grown / n:,.0f} |",
                  flush=True)
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
