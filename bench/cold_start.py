"""Cold start: `qa ask` from a fresh process on an existing index; `python app.py` to its first answer; `qa --help`.

The index of data/ is built once beforehand, per backend. For each backend (`--embedders`, as QA_EMBEDDER),
alternating, `--repeats` times: `python -m qa ask QUESTION` end to end (interpreter start to exit); and
`python app.py` on a free loopback port, asked one question as soon as it accepts connections (it answers
503 while it loads the index and the model, and is asked again): seconds to accepting, to the first answer,
and its peak RSS (VmHWM). Then `python -m qa --help`, and `import qa.surfaces.cli` against `import qa.surfaces.cli, qa.service`
(what `--help` imported before the `qa` package became lazy). Medians; the server is stopped after each start.

    python bench/cold_start.py --repeats 3 --embedders onnx-int8 torch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import DATA, ROOT, median, running_app

QUESTION = "横沥镇有多少名党员？"
EVIDENCE = "1724"


def ask(port: int) -> dict:
    """The answer to QUESTION, asked again every 50 ms while the app says 503 (still loading)."""
    body = json.dumps({"question": QUESTION, "top_k": 3}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", body, {"Content-Type": "application/json"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(0.05)


def cli_ask(index_dir: Path, embedder: str) -> float:
    """Seconds `python -m qa ask` takes from a fresh process, start to exit."""
    t = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "qa", "ask", QUESTION, "--top-k", "3", "--data", str(DATA),
                          "--index", str(index_dir)], cwd=ROOT, env={**os.environ, "QA_EMBEDDER": embedder},
                         capture_output=True, text=True, check=True)
    if EVIDENCE not in run.stdout:
        raise RuntimeError(f"unexpected answer: {run.stdout[:300]}")
    return time.perf_counter() - t


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def one_start(index_dir: Path, embedder: str) -> dict:
    """Spawn app.py, wait for it to accept, ask once, stop it."""
    start = time.perf_counter()
    with running_app({"QA_DATA": str(DATA), "QA_INDEX": str(index_dir), "QA_EMBEDDER": embedder}) as (app, port):
        up = time.perf_counter()
        answer = ask(port)
        done = time.perf_counter()
        if not answer["hits"] or EVIDENCE not in answer["hits"][0]["text"]:
            raise RuntimeError(f"unexpected first answer: {str(answer)[:300]}")
        return {"accepting": up - start, "answered": done - start, "request": done - up, "rss": peak_rss_mib(app.pid)}


def seconds(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--embedders", nargs="+", default=["onnx-int8", "torch"])
    args = parser.parse_args()
    from qa.service import Service

    from qa.core.settings import Settings

    runs: dict[str, list[dict]] = {e: [] for e in args.embedders}
    with tempfile.TemporaryDirectory() as tmp:
        for embedder in args.embedders:
            Service(DATA, Path(tmp) / f"index-{embedder}", settings=Settings(backend=embedder)).build()
        for r in range(args.repeats):
            for embedder in args.embedders if r % 2 == 0 else args.embedders[::-1]:
                index = Path(tmp) / f"index-{embedder}"
                runs[embedder].append({"cli_ask": cli_ask(index, embedder), **one_start(index, embedder)})
                print(embedder, runs[embedder][-1], file=sys.stderr, flush=True)
    help_s, lazy_s, eager_s = [], [], []
    for _ in range(5):
        help_s.append(seconds([sys.executable, "-m", "qa", "--help"]))
        lazy_s.append(seconds([sys.executable, "-c", "import qa.surfaces.cli"]))
        eager_s.append(seconds([sys.executable, "-c", "import qa.surfaces.cli, qa.service"]))
    print(f"{args.repeats} runs per embedding backend, alternating, existing index of data/; medians")
    print("| QA_EMBEDDER | `qa ask`, start to exit, s | app.py: spawn to accepting, s | spawn to first answer, s "
          "| app.py peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for embedder, rs in runs.items():
        m = {k: median([x[k] for x in rs]) for k in rs[0]}
        print(f"| {embedder} | {m['cli_ask']:.2f} | {m['accepting']:.1f} | {m['answered']:.1f} | {m['rss']:.0f} |")
    print("\n| command (5 alternating runs, medians) | seconds |\n|---|---:|")
    print(f"| `python -m qa --help` | {median(help_s):.2f} |")
    print(f"| `python -c 'import qa.surfaces.cli'` | {median(lazy_s):.2f} |")
    print(f"| `python -c 'import qa.surfaces.cli, qa.service'` | {median(eager_s):.2f} |")


if __name__ == "__main__":
    main()
