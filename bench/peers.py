"""This project against its peers on the same documents, passages and model: build time, question latency, quality.

The documents are the CMRC 2018 trial set (256 Chinese Wikipedia passages, 1,000 questions naming their
gold document and answers; CC BY-SA 4.0) unless `--data`/`--questions` name others. Every system sees the
passages this project cuts from them and the default model with this project's prompts:

  qa            `Service` with the default backend: build (passages and clause vectors), then `Service.answer`
  txtai-hybrid  txtai 9 `Embeddings(hybrid=True)` over the passages (its own BM25 beside the vectors), `search`
  dense         the same model's passage vectors alone, exact cosine (the vectors `qa` builds, no rescoring)
  bm25          bm25s over the passages' jieba words (the tokenizer `qa` uses), no vectors
  torch-encode  sentence-transformers on torch encoding each question alone: the raw model's own cost

Each system runs in a fresh process, in turn, `--repeats` times (alternating order); medians. Latency
is per question asking for the top 5, the question's encoding included, one question at a time, after
a pass over every question for quality: what `qa eval` reports (qa.surfaces.evaluate.evaluate), hit@1/5, MRR@10,
and answer span@1 where a system has spans.

    pip install -e '.[bench]'
    python bench/peers.py --repeats 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, PeerHit, Timed, median, percentile, timed_build

CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018-trial"
SYSTEMS = ("qa", "txtai-hybrid", "dense", "bm25", "torch-encode")
TOP_K = 5  # what a question asks for when timed (the service's default); quality is measured on the top 10




def passages(data: Path) -> list[tuple[str, str]]:
    """(document, text) of every passage this project cuts from `data`."""
    from qa.passages.chunking import split_passages
    from qa.read.folder import load_documents

    documents = load_documents(data).documents
    return [(p.doc, p.text) for d in documents for p in split_passages(d)]


def run(system: str, data: Path, tmp: Path):
    """(build seconds, a Timed service) for one system."""
    from qa.embed.factory import make_embedder
    from qa.core.settings import Settings

    if system == "qa":
        return timed_build(data, tmp, make_embedder(Settings()).inner)  # no query cache: every question is encoded
    units = passages(data)
    if system == "txtai-hybrid":
        from txtai import Embeddings

        from qa.embed import convert

        embedder = make_embedder(Settings()).inner
        embeddings = Embeddings(path=str(convert.default_model_path()), content=True, hybrid=True,
                                instructions={"query": embedder.prompts["query"], "data": embedder.prompts["passage"]})
        embeddings.transform("warm up")
        t = time.perf_counter()
        embeddings.index([(i, text, None) for i, (_, text) in enumerate(units)])
        build = time.perf_counter() - t
        return build, Timed(lambda q, k: [PeerHit(r["text"], units[int(r["id"])][0]) for r in embeddings.search(q, k)])
    if system == "dense":
        import numpy as np

        embedder = make_embedder(Settings()).inner
        t = time.perf_counter()
        vectors = embedder.embed([text for _, text in units], "passage")
        build = time.perf_counter() - t

        def dense(q: str, k: int):
            best = np.argsort(-(vectors @ embedder.embed([q], "query")[0]))[:k]
            return [PeerHit(units[i][1], units[i][0]) for i in best]

        return build, Timed(dense)
    if system == "bm25":
        from qa.index.lexical import LexicalIndex

        t = time.perf_counter()
        index = LexicalIndex.build(list(enumerate(text for _, text in units)))
        build = time.perf_counter() - t
        return build, Timed(lambda q, k: [PeerHit(units[i][1], units[i][0]) for i in index.top(q, k)[0]])
    raise ValueError(system)


def child(system: str, data: Path, questions: Path) -> dict:
    from qa.surfaces.evaluate import evaluate, read_questions

    items = read_questions(questions)
    if system == "torch-encode":
        from qa.embed.torch_embedder import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
        embedder.embed(["warm up"], "query")
        seconds = []
        for item in items:
            t = time.perf_counter()
            embedder.embed([item.q], "query")
            seconds.append(time.perf_counter() - t)
        return {"query_p50_ms": 1000 * median(seconds), "query_p90_ms": 1000 * percentile(seconds, 90)}
    with tempfile.TemporaryDirectory() as tmp:
        build, timed = run(system, data, Path(tmp))
        timed.ask("warm up", TOP_K)
        report = evaluate(timed, items, top_k=10)
        timed.seconds.clear()
        for item in items:  # the latency of a question as a user asks it: the top 5, one question at a time
            timed.ask(item.q, TOP_K)
    return {"build_s": build, "query_p50_ms": 1000 * median(timed.seconds),
            "query_p90_ms": 1000 * percentile(timed.seconds, 90), "hit1": report.hit_at_1, "hit5": report.hit_at_5,
            "mrr": report.mrr_at_10, "span1": report.span_at_1 if system == "qa" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=CMRC / "data")
    parser.add_argument("--questions", type=Path, default=CMRC / "questions.jsonl")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--child", choices=SYSTEMS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.questions)))
        return
    runs: dict[str, list[dict]] = {s: [] for s in args.systems}
    for r in range(args.repeats):
        for system in args.systems if r % 2 == 0 else args.systems[::-1]:
            cmd = [sys.executable, __file__, "--child", system, "--data", str(args.data), "--questions",
                   str(args.questions)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
            runs[system].append(json.loads(out.strip().splitlines()[-1]))
            print(system, runs[system][-1], file=sys.stderr, flush=True)
    med = {s: {k: (median([r[k] for r in rs]) if rs[0][k] is not None else None) for k in rs[0]}
           for s, rs in runs.items()}
    print(f"{args.data}: {len(passages(args.data))} passages; {args.questions.name}; {args.repeats} alternating runs "
          "per system, each in a fresh process; medians")
    print("| system | build s | question p50 ms | p90 ms | hit@1 | hit@5 | MRR@10 | span@1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def cell(m: dict, key: str, form: str) -> str:
        return format(m[key], form) if m.get(key) is not None else "–"

    for s, m in med.items():
        print(f"| {s} | {cell(m, 'build_s', '.1f')} | {cell(m, 'query_p50_ms', '.1f')} | "
              f"{cell(m, 'query_p90_ms', '.1f')} | {cell(m, 'hit1', '.3f')} | {cell(m, 'hit5', '.3f')} | "
              f"{cell(m, 'mrr', '.3f')} | {cell(m, 'span1', '.3f')} |")
    if "qa" in med:
        for other in ("txtai-hybrid", "torch-encode"):
            if other in med:
                print(f"\nqa / {other}: question p50 {med['qa']['query_p50_ms'] / med[other]['query_p50_ms']:.2f}"
                      + (f", build {med['qa']['build_s'] / med[other]['build_s']:.2f}"
                         if med[other].get("build_s") else ""))


if __name__ == "__main__":
    main()
