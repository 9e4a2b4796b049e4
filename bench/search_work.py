"""Search work beyond encoding the question, at 1,000 documents: `qa.answer.search.search` with the question vector given.

The collection: the 256 CMRC trial documents plus generated ones (common.synthetic_documents) up to
`--documents`, indexed with a hashing embedder (384 dimensions; the search work does not depend on what
the vectors mean, only on how many candidates and clauses there are). Each CMRC question is asked with
its vector computed beforehand, `--rounds` times; p50 and p90 of the time `search` takes (candidates
from FAISS and BM25, passages and clauses read back, scores, answer spans), and of its parts.

    python bench/search_work.py --documents 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, percentile, synthetic_documents

from qa.embed.base import Embedder

CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018-trial"


class HashingEmbedder(Embedder):
    """Character bigrams hashed into 384 dimensions: vectors cheap enough to index a thousand documents."""

    name = "hashing-bigram-384"
    dim = 384
    prompts = {}

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in zip(text, text[1:] + " "):
                out[row, int(hashlib.md5((a + b).encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from qa.answer.search import score, search
    from qa.service import Service

    questions = [json.loads(line)["q"] for line in (CMRC / "questions.jsonl").read_text("utf-8").splitlines()
                 if line.strip() and json.loads(line)["q"].strip()]
    embedder = HashingEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(CMRC / "data", data)
        extra = args.documents - len(list(data.iterdir()))
        if extra > 0:
            synthetic_documents(data / "generated", extra * 5, per_doc=5)
        service = Service(data, Path(tmp) / "index", embedder=embedder)
        report = service.build()
        collection = service.open()
        vectors = embedder.embed(questions, "query")
        whole, scoring = [], []
        for _ in range(args.rounds):
            for question, vector in zip(questions, vectors):
                t = time.perf_counter()
                score(collection, question, vector)
                scoring.append(time.perf_counter() - t)
                t = time.perf_counter()
                search(collection, question, vector, 5)
                whole.append(time.perf_counter() - t)
    print(f"{report.documents} documents, {report.passages} passages, {len(questions)} questions x {args.rounds}")
    print("| part | p50 ms | p90 ms |")
    print("| --- | ---: | ---: |")
    for name, times in (("search (everything after the question vector)", whole), ("of it: score", scoring)):
        print(f"| {name} | {percentile(times, 50) * 1000:.2f} | {percentile(times, 90) * 1000:.2f} |")


if __name__ == "__main__":
    main()
