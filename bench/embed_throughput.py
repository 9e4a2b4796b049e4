"""Passages embedded per second by the default model: one process, and a sentence-transformers multi-process pool.

    python bench/embed_throughput.py --passages 1024 --processes 2

The passages cycle through the real passages of data/; one process encodes as `qa index` does
(torch using every core); the pool runs `--processes` copies of the model, one torch thread each,
fed in chunks by `SentenceTransformer.encode(pool=...)`. The figures scale the initial load in
docs/scaling.md.
"""

from __future__ import annotations

import argparse
import time

from common import corpus_passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1024)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    import torch

    from qa.embed.torch_embedder import SentenceTransformerEmbedder

    real = corpus_passages()
    texts = [real[i % len(real)] for i in range(args.passages)]
    embedder = SentenceTransformerEmbedder()
    prompt = embedder.prompts["passage"]
    embedder.embed(texts[:64], "passage")  # warm up

    started = time.perf_counter()
    embedder.embed(texts, "passage")
    single = len(texts) / (time.perf_counter() - started)
    print(f"one process ({torch.get_num_threads()} torch threads): {single:.1f} passages/s")

    torch.set_num_threads(1)  # the pool's processes inherit it: one core each
    pool = embedder.model.start_multi_process_pool(["cpu"] * args.processes)
    try:
        embedder.model.encode(texts[:64], prompt=prompt, pool=pool)  # warm up every process
        started = time.perf_counter()
        embedder.model.encode(texts, prompt=prompt, pool=pool, batch_size=embedder.encode_batch,
                              chunk_size=64, normalize_embeddings=True)
        pooled = len(texts) / (time.perf_counter() - started)
    finally:
        embedder.model.stop_multi_process_pool(pool)
    print(f"pool of {args.processes} processes (1 thread each): {pooled:.1f} passages/s ({pooled / single:.2f}x)")


if __name__ == "__main__":
    main()
