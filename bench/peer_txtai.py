"""The peer: txtai 9 against this project on the same corpus (data/), model, prompts and passages.

Each system runs in its own fresh process (so peak RSS is its own), alternating, `--repeats` times:
load the default model (not timed), index, then answer every dev question (top 10). txtai indexes
the passages this project cuts from data/, with the same local model folder and the same prompts
as `instructions`. Quality for both comes from `qa.surfaces.evaluate.evaluate` (what `qa eval` runs).
Reported: build time, query latency p50/p99, peak RSS, hit@1/3/5 and MRR@10; medians over repeats.

    pip install -e '.[bench]'
    python bench/peer_txtai.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, DEV_SET, ROOT, PeerHit, Timed, corpus_passages, median, peak_rss_mib, percentile, timed_build




def run_ours(tmp: Path) -> tuple[float, Timed]:
    from qa.embed.torch_embedder import SentenceTransformerEmbedder

    return timed_build(DATA, tmp, SentenceTransformerEmbedder())  # no query cache: every question is encoded


def run_txtai(tmp: Path) -> tuple[float, Timed]:
    from txtai import Embeddings

    from qa.embed.base import choose_prompts
    from qa.embed import convert

    prompts = choose_prompts("default", convert.PROMPTS, None, None)  # the prompts this project uses
    embeddings = Embeddings(path=str(convert.default_model_path()), content=True,
                            instructions={"query": prompts["query"], "data": prompts["passage"]})
    embeddings.transform("warm up")
    passages = corpus_passages()
    t = time.perf_counter()
    embeddings.index([(i, text, None) for i, text in enumerate(passages)])
    build = time.perf_counter() - t
    return build, Timed(lambda q, k: [PeerHit(r["text"]) for r in embeddings.search(q, k)])


def child(system: str) -> None:
    from qa.surfaces.evaluate import evaluate, read_questions

    with tempfile.TemporaryDirectory() as tmp:
        build, timed = (run_ours if system == "qa" else run_txtai)(Path(tmp))
        timed.ask("warm up", 10)
        timed.seconds.clear()
        report = evaluate(timed, read_questions(DEV_SET), top_k=10)
    print(json.dumps({"build_s": build, "query_p50_ms": 1000 * median(timed.seconds),
                      "query_p99_ms": 1000 * percentile(timed.seconds, 99), "peak_rss_mib": peak_rss_mib(),
                      "hit1": report.hit_at_1, "hit3": report.hit_at_3, "hit5": report.hit_at_5,
                      "mrr": report.mrr_at_10}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["qa", "txtai"])
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    runs: dict[str, list[dict]] = {"qa": [], "txtai": []}
    for r in range(args.repeats):
        for system in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            out = subprocess.run([sys.executable, __file__, "--child", system], capture_output=True, text=True,
                                 check=True, cwd=ROOT).stdout
            runs[system].append(json.loads(out.strip().splitlines()[-1]))
            print(system, runs[system][-1], file=sys.stderr, flush=True)
    med = {s: {k: median([r[k] for r in rs]) for k in rs[0]} for s, rs in runs.items()}
    print(f"{len(corpus_passages())} passages from data/, {DEV_SET.name} questions, top 10, {args.repeats} "
          "alternating runs per system, each in a fresh process; medians")
    print("| | build s | query p50 ms | query p99 ms | peak RSS MiB | hit@1 | hit@3 | hit@5 | MRR@10 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s, name in (("qa", "this project (`Service`)"), ("txtai", "txtai 9 `Embeddings`")):
        m = med[s]
        print(f"| {name} | {m['build_s']:.2f} | {m['query_p50_ms']:.1f} | {m['query_p99_ms']:.1f} | "
              f"{m['peak_rss_mib']:.0f} | {m['hit1']:.2f} | {m['hit3']:.2f} | {m['hit5']:.2f} | {m['mrr']:.3f} |")
    q, t = med["qa"], med["txtai"]
    print(f"| ratio qa / txtai | {q['build_s'] / t['build_s']:.2f} | {q['query_p50_ms'] / t['query_p50_ms']:.2f} | "
          f"{q['query_p99_ms'] / t['query_p99_ms']:.2f} | {q['peak_rss_mib'] / t['peak_rss_mib']:.2f} | | | | |")


if __name__ == "__main__":
    main()
