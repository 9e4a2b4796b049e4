"""Cold start: from `python app.py` (existing index) to the first answer served; and `qa --help`.

The index of data/ is built once beforehand. Each start spawns `python app.py` on a free loopback
port and posts one question to `POST /api/ask` as soon as the server accepts connections; reported:
seconds to the server accepting, to the first answer, how long that first request took, and the
app's peak RSS (VmHWM) after it. `--embedders torch onnx` alternates the backends (QA_EMBEDDER).
Then `python -m qa --help`, and, alternating, `import qa.cli` against `import qa.cli, qa.service`
(what `--help` imported before the `qa` package became lazy). Medians; the server is stopped after each start.

    python bench/cold_start.py --repeats 3 --embedders torch onnx
"""

from __future__ import annotations

import argparse
import json
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
    body = json.dumps({"question": QUESTION, "top_k": 3}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


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
    parser.add_argument("--embedders", nargs="+", default=["torch"])
    args = parser.parse_args()
    from qa.service import Service

    runs: dict[str, list[dict]] = {e: [] for e in args.embedders}
    with tempfile.TemporaryDirectory() as tmp:
        Service(DATA, Path(tmp) / "index").build()
        for r in range(args.repeats):
            for embedder in args.embedders if r % 2 == 0 else args.embedders[::-1]:
                runs[embedder].append(one_start(Path(tmp) / "index", embedder))
                print(embedder, runs[embedder][-1], file=sys.stderr, flush=True)
    help_s, lazy_s, eager_s = [], [], []
    for _ in range(5):
        help_s.append(seconds([sys.executable, "-m", "qa", "--help"]))
        lazy_s.append(seconds([sys.executable, "-c", "import qa.cli"]))
        eager_s.append(seconds([sys.executable, "-c", "import qa.cli, qa.service"]))
    print(f"{args.repeats} starts of `python app.py` per embedding backend, existing index of data/; medians")
    print("| QA_EMBEDDER | spawn to accepting, s | spawn to first answer, s | first request, s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for embedder, rs in runs.items():
        m = {k: median([x[k] for x in rs]) for k in rs[0]}
        print(f"| {embedder} | {m['accepting']:.1f} | {m['answered']:.1f} | {m['request']:.2f} | {m['rss']:.0f} |")
    print("\n| command (5 alternating runs, medians) | seconds |\n|---|---:|")
    print(f"| `python -m qa --help` | {median(help_s):.2f} |")
    print(f"| `python -c 'import qa.cli'` | {median(lazy_s):.2f} |")
    print(f"| `python -c 'import qa.cli, qa.service'` | {median(eager_s):.2f} |")


if __name__ == "__main__":
    main()
