"""Shared helpers for the benchmarks: path setup, the corpus and synthesized passages, the dev set, the app
in a process of its own, timing and memory. Every script imports it first (`from common import ...`), so
`python bench/x.py` runs this checkout's qa from anywhere."""

from __future__ import annotations

import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python bench/x.py` from anywhere: import this checkout's qa

from qa.core.settings import set_native_defaults  # noqa: E402

set_native_defaults()  # as the service runs: passive OpenMP threads, no onnxruntime telemetry, before they load

DATA = ROOT / "data"
DEV_SET = ROOT.parent / "shared" / "eval" / "dev.jsonl"
CACHE = ROOT / "bench" / ".cache"
_CLAUSE = re.compile(r"[^，。！？；：、,.!?;:\s]{4,}")


def corpus_passages(data_dir: Path = DATA) -> list[str]:
    """The passages the service cuts from `data_dir`."""
    from qa.passages.chunking import split_passages
    from qa.read.folder import load_documents

    documents = load_documents(Path(data_dir)).documents
    return [p.text for doc in documents for p in split_passages(doc)]


def synthetic_passages(n: int, seed: int = 0, clauses: int = 2) -> list[str]:
    """`n` distinct Chinese passages, each a random run of `clauses` corpus clauses; the same for the same seed."""
    pool = _clause_pool()
    if n > len(pool) ** clauses // 2:
        raise ValueError(f"{n:,} distinct passages of {clauses} clauses cannot be drawn from {len(pool)} clauses")
    rng = random.Random(seed)
    out: dict[str, None] = {}  # a dict, not a set: its order does not depend on the process's string hashes
    while len(out) < n:
        out["，".join(rng.choice(pool) for _ in range(clauses)) + "。"] = None
    return list(out)


def synthetic_documents(folder: Path, paragraphs: int, per_doc: int = 50, seed: int = 0) -> None:
    """Documents of `per_doc` distinct paragraphs of 2 to 16 corpus clauses (lengths vary as in real text)."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = _clause_pool()
    rng = random.Random(seed)
    texts: dict[str, None] = {}
    while len(texts) < paragraphs:
        pieces = ("，".join(rng.choice(pool) for _ in range(2)) + "。" for _ in range(rng.randint(1, 8)))
        texts["".join(pieces)] = None
    texts_in_order = list(texts)
    for i in range(0, paragraphs, per_doc):
        text = "\n\n".join(texts_in_order[i : i + per_doc]) + "\n"
        (folder / f"doc{i // per_doc:05d}.txt").write_text(text, encoding="utf-8")


def _clause_pool() -> list[str]:
    """The corpus's distinct clauses of four characters or more, sorted."""
    return sorted({c for text in corpus_passages() for c in _CLAUSE.findall(text)})


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    return float(np.percentile(np.asarray(values), q))


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def embedded(texts: Callable[[], list[str]], kind: str, name: str) -> np.ndarray:
    """Default-model (torch) vectors of `texts()`, cached in bench/.cache (10k of them take minutes to make)."""
    from qa.core.settings import DEFAULT_MODEL
    from qa.embed.torch_embedder import SentenceTransformerEmbedder
    from qa.embed.base import model_name

    path = CACHE / f"{name}-{kind}-{model_name(DEFAULT_MODEL, 'torch').replace('/', '_')}.npy"
    if path.exists():
        return np.load(path)
    vectors = SentenceTransformerEmbedder().embed(texts(), kind)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepting(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_app(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, int]]:
    """`python app.py` with `env` over ours on a free loopback port, until it accepts connections; stopped after."""
    port = free_port()
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env={**os.environ, **env, "QA_PORT": str(port)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not accepting(port):
            if app.poll() is not None:
                raise RuntimeError("app.py exited before accepting connections")
            time.sleep(0.05)
        yield app, port
    finally:
        app.terminate()
        app.wait(timeout=60)


def print_table(rows: list[dict]) -> None:
    """Rows of one bench run as a Markdown table, one column per key."""
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


@dataclass
class PeerHit:
    """The part of a `Hit` that `qa.surfaces.evaluate.evaluate` reads, for a peer's results."""

    text: str
    document: str = ""
    answer: None = None


class Timed:
    """A `service` for `qa.surfaces.evaluate.evaluate` that times every question."""

    def __init__(self, ask):
        self._ask, self.seconds = ask, []

    def ask(self, question: str, top_k: int):
        t = time.perf_counter()
        hits = self._ask(question, top_k)
        self.seconds.append(time.perf_counter() - t)
        return hits


def timed_build(data: Path, tmp: Path, embedder) -> tuple[float, Timed]:
    """This project over a copy of `data` with `embedder` (its warm-up not timed): (build seconds, a Timed service)."""
    import shutil

    from qa.service import Service

    shutil.copytree(data, tmp / "data")
    embedder.embed(["warm up"], "query")
    service = Service(tmp / "data", tmp / "index", embedder=embedder)
    t = time.perf_counter()
    service.build(force=True)
    service.open()
    return time.perf_counter() - t, Timed(service.ask)


def synthetic_rows(n: int, per_document: int, seed: int = 2) -> tuple[list, list]:
    """(passages, document rows) of a synthetic collection of n passages, per_document to a document."""
    from qa.passages.chunking import Passage
    from qa.index.base import DocumentRow
    from qa.read.documents import DocumentMeta

    texts = synthetic_passages(n, seed=seed, clauses=3)
    passages = [Passage(id=i, document=f"doc{i // per_document:05d}.txt", position=i % per_document, text=t,
                        start=0, end=len(t)) for i, t in enumerate(texts)]
    documents = [DocumentRow(f"doc{d:05d}.txt", DocumentMeta(title=f"文档{d}"), sha256="0" * 64)
                 for d in range((n + per_document - 1) // per_document)]
    return passages, documents
