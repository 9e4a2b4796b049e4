"""What a build costs besides embedding: `qa index` with an embedder that costs nothing, full and after one change.

    python bench/build_overhead.py [--paragraphs 10000] [--repeat 2]

The embedder returns random unit vectors (no model), so what is timed is the build's own work: reading and
splitting the documents, hashing and caching the texts, cutting the passages into BM25 words, writing and
checking the files. A build can never be faster than this, however fast the GPU that embeds (issue: a GPU
embeds ~4,200 passages/s). It prints, for a full build of `--paragraphs` paragraphs (common.synthetic_documents,
50 to a document) and for an update that adds one document of 50 paragraphs to it: seconds, passages/s and the
seconds of each stage (from the end of the stage before to the end of this one).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common import synthetic_documents

from qa import Service
from qa.embed.base import Embedder

STAGES = ("read", "split", "embed", "write")


class FreeEmbedder(Embedder):
    """Random unit vectors: embedding costs (almost) nothing."""

    name = "free-384"
    dim = 384
    batch_size = 1024

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def timed_build(service: Service) -> tuple[float, int, dict[str, float]]:
    """Seconds, passages of the index and seconds per stage of one build."""
    ends: dict[str, float] = {}
    started = time.perf_counter()
    report = service.build(progress=lambda stage, done, total: ends.__setitem__(stage, time.perf_counter()))
    seconds = time.perf_counter() - started
    stages, before = {}, started
    for stage in STAGES:
        if stage in ends:
            stages[stage], before = ends[stage] - before, ends[stage]
    return seconds, report.passages, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1, help="full builds and updates to time, each in a new folder")
    args = parser.parse_args()
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            data, extra = Path(tmp) / "data", Path(tmp) / "extra"
            synthetic_documents(data, args.paragraphs)
            synthetic_documents(extra, 50, seed=1)
            service = Service(data, Path(tmp) / "index", embedder=FreeEmbedder())
            for what in ("full build", "update: 1 new document"):
                if what.startswith("update"):
                    shutil.copy(next(extra.iterdir()), data / "added.txt")
                seconds, passages, stages = timed_build(service)
                parts = ", ".join(f"{stage} {s:.1f}" for stage, s in stages.items())
                print(f"{what}: {passages} passages in the index, {seconds:.1f} s, {passages / seconds:.0f} "
                      f"passages/s ({parts})", flush=True)
            service.close()


if __name__ == "__main__":
    main()
