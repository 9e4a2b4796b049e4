"""The Milvus store on a real Milvus 2.3.5 server: build throughput, question latency and server memory at a size.

    python bench/milvus_scale.py                      # 100k passages on a server it starts (tests/milvus_server.py:
                                                      # root, milvus==2.3.5 from the test extra) and stops
    python bench/milvus_scale.py --sizes 20000 --uri http://127.0.0.1:19530 --pid PID   # a running server

Passages as bench/search_scale.py's: synthesized Chinese texts (three corpus clauses each), ids 0..N-1, a document
per 1,000, their clauses cut by qa.passages.chunking. Vectors: random 384-d unit vectors (memory and latency do not depend
on their values much; recall is not measured here), each clause its passage's vector plus noise; questions: 200
passages' vectors plus noise, with their texts. Per size, in a fresh server:

- build: `MilvusStore.commit` of a full build (create the collections, insert passages, clauses and documents,
  flush, index, load), in passages a second;
- question latency, pre-encoded so only search is timed: the raw Milvus search (client.search, top 5) and the
  service's search path (`qa.answer.search.search`: dense candidates, their vectors and clause vectors read back from
  Milvus, answer spans, metadata), p50 and p99 over 200 questions x repeats;
- server memory: the RSS of the `milvus` process when idle, after the build, and after the questions, each once it
  has settled (moves by under 2% in 10 s); per passage, the growth over idle after the questions.
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
from common import ROOT, percentile, print_table, synthetic_rows

DIM = 384
PER_DOCUMENT = 1_000
NOISE = 0.02
SETTLE_SECONDS = 10  # the server's memory counts once it moves by under 2% in this long (it seals and indexes
SETTLE_LIMIT = 300  # segments for a while after a build), or after this long


def server_rss(pid: int) -> int:
    """Resident bytes of a process, from /proc/PID/smaps_rollup."""
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    return int(dict(line.split(":", 1) for line in lines)["Rss"].split()[0]) * 1024


def settled_rss(pid: int) -> int:
    """The server's RSS once it has settled (see SETTLE_SECONDS)."""
    last, deadline = server_rss(pid), time.monotonic() + SETTLE_LIMIT
    while time.monotonic() < deadline:
        time.sleep(SETTLE_SECONDS)
        now = server_rss(pid)
        if abs(now - last) < 0.02 * last:
            return now
        last = now
    return last


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def change(n: int):
    """A full build of n synthesized passages with random vectors; (change, clause count)."""
    from qa.passages.chunking import clause_table
    from qa.index.base import BuildSpec, Change, Clauses

    rng = np.random.default_rng(1)
    vectors = unit(rng.standard_normal((n, DIM), dtype=np.float32))
    passages, documents = synthetic_rows(n, PER_DOCUMENT)
    table = clause_table(passages)
    clauses = unit(vectors[table[:, 0]] + rng.normal(0, NOISE, (len(table), DIM)).astype(np.float32))
    spec = BuildSpec(model="bench", dim=DIM, fingerprint="bench", pipeline=0)
    return Change(full=True, spec=spec, documents=documents, removed=[], passages=passages, vectors=vectors,
                  clauses=Clauses.from_table(table, clauses)), len(table)


def one(uri: str, pid: int | None, n: int, repeats: int) -> dict:
    from qa.answer.search import search
    from qa.index.milvus_store import milvus_store

    mib = lambda b: round(b / 2**20)  # noqa: E731
    idle = server_rss(pid) if pid else 0
    build, clauses = change(n)
    store = milvus_store(uri, Path("bench"))
    started = time.perf_counter()
    manifest = store.commit(build)
    build_s = time.perf_counter() - started
    collection = store.open()
    built = settled_rss(pid) if pid else 0
    rng = np.random.default_rng(4)
    picks = rng.choice(n, 200, replace=False)
    queries = unit(build.vectors[picks] + rng.normal(0, NOISE * 2, (200, DIM)).astype(np.float32))
    questions = [build.passages[i].text for i in picks]
    raw, ours, found = [], [], 0
    for _ in range(repeats):
        for text, q, pick in zip(questions, queries, picks):
            t = time.perf_counter()
            collection.dense(q, 5)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            hits = search(collection, text, q, 5).hits
            ours.append(time.perf_counter() - t)
            found += bool(hits) and (hits[0].document, hits[0].position) == (build.passages[pick].doc,
                                                                              build.passages[pick].position)
    asked = settled_rss(pid) if pid else 0
    store.close()
    ms = lambda xs, p: round(percentile(xs, p) * 1000, 1)  # noqa: E731
    return {"passages": n, "clauses": clauses, "index": manifest.vector_index, "build_s": round(build_s, 1),
            "passages_per_s": round(n / build_s), "milvus_search_p50_ms": ms(raw, 50),
            "milvus_search_p99_ms": ms(raw, 99), "service_search_p50_ms": ms(ours, 50),
            "service_search_p99_ms": ms(ours, 99), "top1_found": round(found / len(ours), 2),
            "rss_idle_mib": mib(idle), "rss_built_mib": mib(built), "rss_asked_mib": mib(asked),
            "kib_per_passage": round((asked - idle) / n / 1024, 1) if pid else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--uri", help="a running server (default: start one per size with tests/milvus_server.py)")
    parser.add_argument("--pid", type=int, help="with --uri: the milvus process, for its memory")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        if args.uri:
            rows.append(one(args.uri, args.pid, n, args.repeats))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "milvus_server.py"), "--data", tmp],
                                          stdout=subprocess.PIPE, text=True)
                try:
                    started = json.loads(server.stdout.readline())
                    settled_rss(started["milvus_pid"])
                    rows.append(one(started["uri"], started["milvus_pid"], n, args.repeats))
                finally:
                    server.terminate()  # it stops its server and exits
                    server.wait(120)
        print(json.dumps(rows[-1]), flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
