"""Indexing on a GPU: passages/s of the embedder alone and of a whole `qa index`, and the GPU's vectors against the CPU's.

    python bench/gpu_ingest.py --passages 50000      # on a machine with a CUDA GPU and the gpu extra
    python bench/gpu_ingest.py                       # without one: says so and runs 2,000 passages on the CPU

It prints the device and onnxruntime's providers, then:
1. the embedder alone: `--passages` synthetic passages (common.synthetic_passages, 3 corpus clauses each)
   embedded as a build does, sorted by length in calls of `Embedder.batch_size` (model load and a warm-up
   call not timed);
2. the whole `qa index --rebuild` (`Service.build(force=True)` with a fresh service, so the model load is in
   it) over synthetic documents (common.synthetic_documents) of `--passages` paragraphs: the passages it
   indexed per second, and every text it embedded (passages and their clauses) per second;
3. the cosine between the device's vectors and the CPU's for `--sample` of the passages (min and mean).
The backend is `--backend` (default onnx, the fp32 graph: the GPU choice; README, "Speed").
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import synthetic_documents, synthetic_passages

from qa.core.settings import BACKENDS, Settings
from qa.embed.base import Embedder
from qa.embed.device import embedding_device
from qa.embed.factory import make_embedder

CPU_PASSAGES = 2000  # without a GPU: enough to exercise every step in a few minutes


def gpu_name() -> str:
    """What nvidia-smi calls the GPU, or why there is no name."""
    if shutil.which("nvidia-smi") is None:
        return "no nvidia-smi"
    run = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True)
    return run.stdout.strip().replace("\n", "; ") or run.stderr.strip()


def embed_as_a_build(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Vectors of texts, embedded as sync.embed_with_cache does: sorted by length, in calls of batch_size."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i in range(0, len(order), embedder.batch_size):
        rows = order[i : i + embedder.batch_size]
        out[rows] = embedder.embed([texts[r] for r in rows], "passage")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=50_000, help="passages (and paragraphs of the build)")
    parser.add_argument("--backend", choices=BACKENDS, default="onnx")
    parser.add_argument("--sample", type=int, default=256, help="passages whose vectors are compared to the CPU's")
    args = parser.parse_args()

    import onnxruntime as ort

    settings = replace(Settings.from_env(), backend=args.backend, device="auto")
    device = embedding_device(settings)
    print(f"GPU: {gpu_name()}")
    print(f"onnxruntime {ort.__version__} ({ort.get_device()}), providers: {', '.join(ort.get_available_providers())}")
    passages = args.passages
    if device != "cuda":
        passages = min(passages, CPU_PASSAGES)
        print(f"No CUDA GPU here: running {passages} passages on the CPU, to exercise the script (CPU figures).")

    loaded = time.perf_counter()
    embedder = make_embedder(replace(settings, device=device))
    loaded = time.perf_counter() - loaded
    inner = getattr(embedder, "inner", embedder)
    providers = inner._sessions[0].get_providers() if hasattr(inner, "_sessions") else [inner.device]
    print(f"backend {args.backend} on {embedder.device} ({', '.join(providers)}), batches of {embedder.batch_size}; "
          f"loaded in {loaded:.1f} s")

    texts = synthetic_passages(passages, seed=1, clauses=3)
    embedder.embed(texts[: embedder.batch_size], "passage")  # warm up: first-run allocations, CUDA kernels
    started = time.perf_counter()
    vectors = embed_as_a_build(embedder, texts)
    seconds = time.perf_counter() - started
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"1. embedder alone: {passages} passages (mean {mean_chars:.0f} characters) in {seconds:.1f} s: "
          f"{passages / seconds:.0f} passages/s")

    build_passages_per_second(settings, device, passages)

    sample = texts[: args.sample]
    cpu = make_embedder(replace(settings, device="cpu")) if device != "cpu" else embedder
    cosines = np.sum(vectors[: len(sample)] * embed_as_a_build(cpu, sample), axis=1)
    note = "" if device == "cuda" else " (both on the CPU: no GPU here)"
    print(f"3. cosine to the CPU's vectors, {len(sample)} passages: min {cosines.min():.5f}, "
          f"mean {cosines.mean():.5f}{note}")


def build_passages_per_second(settings: Settings, device: str, paragraphs: int) -> None:
    """Time a full build with a fresh service (model load included) and print its rates."""
    from qa.service import Service

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        synthetic_documents(data, paragraphs)
        texts = 0

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal texts
            if stage == "embed":
                texts = total

        service = Service(data, Path(tmp) / "index", settings=replace(settings, device=device))
        started = time.perf_counter()
        report = service.build(force=True, progress=progress)
        seconds = time.perf_counter() - started
        service.close()
    print(f"2. qa index --rebuild: {report.documents} documents, {report.passages} passages and {texts} texts "
          f"embedded (passages and clauses) in {seconds:.1f} s: {report.passages / seconds:.0f} passages/s, "
          f"{texts / seconds:.0f} texts/s")


if __name__ == "__main__":
    main()
