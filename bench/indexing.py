"""Indexing throughput: `Service.build` against raw `SentenceTransformer.encode`, same model and batch size.

Synthesized documents (paragraphs of 2 to 16 corpus clauses, so lengths vary as in real text) in a
temporary data folder. Alternating, `--repeats` times each, in one process with one loaded model:

- `Service.build(force=True)`: hashing, reading, chunking, embedding (passages, then their clauses,
  for the hybrid search), FAISS + SQLite write;
- raw encode of the passages the build produced (the issue's baseline), one `encode` call;
- raw encode of every text the build embedded (passages and clauses), one `encode` call: the same
  model work with nothing around it (`encode` sorts one call's texts by length, so batches pad little);
- raw encode of the same texts in the build's own calls (batches of 64 in document order): what the
  build's batching costs in padding, apart from everything else it does.

Reported as passages per second of the build (medians) and the two ratios.

    python bench/indexing.py --paragraphs 150 --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from common import corpus_passages, median, synthetic_documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from qa.embed.base import Embedder
    from qa.embed.torch_embedder import SentenceTransformerEmbedder
    from qa.service import Service

    torch_embedder = SentenceTransformerEmbedder()

    class Recording(Embedder):
        """The torch embedder, remembering every text it is asked to embed."""

        name, dim = torch_embedder.name, torch_embedder.dim
        prompts = torch_embedder.prompts

        def __init__(self):
            self.batches: list[list[str]] = []

        def embed(self, texts, kind):
            self.batches.append(list(texts))
            return torch_embedder.embed(texts, kind)

    def raw(texts: list[str]) -> None:
        torch_embedder.model.encode(texts, prompt=torch_embedder.prompts["passage"],
                                    batch_size=torch_embedder.encode_batch, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)

    torch_embedder.embed(["warm up"], "passage")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        synthetic_documents(data, args.paragraphs)
        passages = corpus_passages(data)
        recording = Recording()
        service = Service(data, Path(tmp) / "index", embedder=recording)
        build_s, raw_passages_s, raw_all_s, raw_batches_s = [], [], [], []
        for _ in range(args.repeats):
            recording.batches = []
            t = time.perf_counter()
            report = service.build(force=True)
            build_s.append(time.perf_counter() - t)
            batches = list(recording.batches)
            everything = [text for batch in batches for text in batch]
            t = time.perf_counter()
            raw(passages)
            raw_passages_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw(everything)
            raw_all_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            for batch in batches:
                raw(batch)
            raw_batches_s.append(time.perf_counter() - t)
    assert report.passages == len(passages), (report.passages, len(passages))
    n = len(passages)
    chars = np.mean([len(p) for p in passages])
    b, rp, ra, rb = median(build_s), median(raw_passages_s), median(raw_all_s), median(raw_batches_s)
    print(f"{n} passages (mean {chars:.0f} chars) from {args.paragraphs} paragraphs; the build embeds "
          f"{len(everything)} texts (passages + clauses) in {len(batches)} calls of <= "
          f"{max(map(len, batches))}; batch size {torch_embedder.batch_size}; {args.repeats} alternating repeats, "
          "medians")
    print("| | seconds | passages/s | Service.build rate ÷ this rate |\n|---|---:|---:|---:|")
    print(f"| raw `encode`, the passages | {rp:.1f} | {n / rp:.1f} | {rp / b:.2f} |")
    print(f"| raw `encode`, every text the build embeds | {ra:.1f} | {n / ra:.1f} | {ra / b:.2f} |")
    print(f"| raw `encode`, every text, in the build's calls | {rb:.1f} | {n / rb:.1f} | {rb / b:.2f} |")
    print(f"| `Service.build(force=True)` | {b:.1f} | {n / b:.1f} | 1.00 |")
    print(f"runs (build, raw passages, raw all, raw in the build's calls): {[round(x, 1) for x in build_s]}, "
          f"{[round(x, 1) for x in raw_passages_s]}, {[round(x, 1) for x in raw_all_s]}, "
          f"{[round(x, 1) for x in raw_batches_s]}")


if __name__ == "__main__":
    main()
