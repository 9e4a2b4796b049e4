"""Indexing on a Ray cluster: `qa index --ray local` with 1 and 2 workers against the local build, and their answers.

    python bench/ray_ingest.py                       # data/ and the CMRC trial set (../shared/eval), if present
    python bench/ray_ingest.py --corpus cmrc

For each corpus it runs `qa index --rebuild` (nothing from the embedding cache) in a fresh index folder: once
locally, then with `--ray local --ray-workers 1` and `2` (a Ray cluster started for the build on this machine).
It prints each build's seconds (the build's own, model load excluded; and the whole command, Ray's start
included) and passages and embedded texts (passages and their clauses) per second, then, for every question of
the corpus, whether each Ray build gives the same top 5 (document, position) as the local one, and the largest
score difference. As root with `unshare` and `ip`, each Ray build runs in a network namespace of its own (as in
tests/ray_cluster.py: Ray listens on every interface); otherwise on this machine's network.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ray_cluster import run_private, unavailable  # noqa: E402

from qa.core.settings import Settings  # noqa: E402
from qa.service import Service  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
CORPORA = {
    "data": (ROOT / "data", SHARED / "dev.jsonl"),
    "cmrc": (SHARED / "cmrc2018-trial" / "data", SHARED / "cmrc2018-trial" / "questions.jsonl"),
}


def build(data: Path, index: Path, ray_workers: int | None) -> dict:
    """One `qa index --rebuild`, locally or on a local Ray cluster of `ray_workers`: its figures."""
    command = [str(Path(sys.executable).parent / "qa"), "index", "--rebuild", "--data", str(data), "--index",
               str(index)]
    if ray_workers:
        command += ["--ray", "local", "--ray-workers", str(ray_workers)]
    t0 = time.perf_counter()
    if ray_workers and unavailable() is None:
        done = run_private(shlex.join(command))
    else:
        done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stderr[-3000:]}")
    line = done.stdout.strip().splitlines()[-1]
    passages, seconds = re.search(r"(\d+) passages? \((\d+\.\d+)s\)", line).groups()
    texts = max(int(t) for t in re.findall(r"Embedding texts: \d+/(\d+)", done.stderr))
    return {"build": "local" if not ray_workers else f"ray, {ray_workers} worker{'s' * (ray_workers > 1)}",
            "passages": int(passages), "texts": texts, "build s": float(seconds), "command s": round(wall, 1),
            "passages/s": round(int(passages) / float(seconds), 1), "texts/s": round(texts / float(seconds), 1)}


def top5(data: Path, index: Path, questions: list[str]) -> list[list[tuple[str, int, float]]]:
    """(document, position, score) of the top 5 for each question, the reader off."""
    service = Service(data, index, settings=Settings(reader=False))
    try:
        return [[(h.document, h.position, h.score) for h in service.ask(q)] for q in questions]
    finally:
        service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    args = parser.parse_args()
    print(f"Ray builds {'in a private network namespace' if unavailable() is None else 'on this network'}")
    for name, (data, questions_file) in CORPORA.items():
        if args.corpus not in (name, "all"):
            continue
        if not data.is_dir() or not questions_file.exists():
            print(f"{name}: {data} or {questions_file} missing, skipped")
            continue
        asked = (json.loads(line)["q"] for line in questions_file.open(encoding="utf-8") if line.strip())
        questions = [q for q in asked if q.strip()]  # the CMRC trial set has two blank ones
        with tempfile.TemporaryDirectory() as tmp:
            runs, answers = [], {}
            for workers in (None, 1, 2):
                index = Path(tmp) / f"index-{workers or 0}"
                runs.append(build(data, index, workers))
                answers[runs[-1]["build"]] = top5(data, index, questions)
            print(f"\n{name}: {runs[0]['passages']} passages, {runs[0]['texts']} texts embedded, "
                  f"{len(questions)} questions")
            for run in runs:
                print("  " + ", ".join(f"{k} {v}" for k, v in run.items()))
            local = answers["local"]
            for build_name, got in answers.items():
                if build_name == "local":
                    continue
                same = sum([(d, p) for d, p, _ in a] == [(d, p) for d, p, _ in b] for a, b in zip(got, local))
                diff = max((abs(x[2] - y[2]) for a, b in zip(got, local) for x, y in zip(a, b)), default=0.0)
                print(f"  {build_name}: same top 5 as local for {same}/{len(local)} questions; "
                      f"largest score difference {diff:.4f}; passages/s {runs[0]['passages/s']} local -> "
                      f"{next(r for r in runs if r['build'] == build_name)['passages/s']}")


if __name__ == "__main__":
    main()
