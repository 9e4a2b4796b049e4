"""Load: N concurrent clients ask over POST /api/ask for a while; every answer is checked.

    python bench/load.py --url http://127.0.0.1:7860 --clients 32 --seconds 60

Without --url it starts `python app.py` itself (data/ and index/) on a free loopback port.
Each answer must equal the one a single client gets before the load (its top passages, in order).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from common import running_app

QUESTIONS = [
    "横沥镇有多少名党员？", "How many party members does Hengli town have?", "镇领导驻村是每周几？",
    "横沥镇如何推进乡村振兴？", "什么是双报到？", "共治协会由哪些人组成？", "What is the coffee discussion platform?",
    "横沥公益学院是做什么的？",
]


@dataclass
class LoadReport:
    """What the clients saw."""

    clients: int
    seconds: float
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seen: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)  # distinct answers per question

    def wrong(self, expected: dict[str, set[tuple[str, ...]]]) -> list[str]:
        """Questions that got an answer not among the expected ones."""
        return [q for q, answers in self.seen.items() if not answers <= expected.get(q, set())]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        return statistics.quantiles(self.latencies, n=100)[int(p) - 1] if len(self.latencies) > 1 else 0.0

    def summary(self) -> str:
        return (f"{self.clients} clients, {self.seconds:.0f} s: {self.requests} requests, {self.rps:.1f} req/s, "
                f"p50 {self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms, "
                f"{len(self.errors)} errors")


def top_texts(body: dict, k: int = 3) -> tuple[str, ...]:
    """The identity of an answer: its top passages, in order."""
    return tuple(h["text"] for h in body["hits"][:k])


async def run_load(url: str, questions: list[str], clients: int = 32, seconds: float = 60,
                   during: Callable[[], None] | None = None) -> LoadReport:
    """`clients` tasks ask in a loop for `seconds`; `during` (e.g. adding a document) runs in a thread meanwhile."""
    report = LoadReport(clients, seconds)
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            i = n
            while time.monotonic() < deadline:
                q = questions[i % len(questions)]
                i += 1
                started = time.perf_counter()
                try:
                    response = await http.post("/api/ask", json={"question": q, "top_k": 5})
                except httpx.HTTPError as e:
                    report.errors.append(f"{q}: {e!r}")
                    continue
                report.latencies.append(time.perf_counter() - started)
                report.requests += 1
                if response.status_code != 200:
                    report.errors.append(f"{q}: HTTP {response.status_code} {response.text[:200]}")
                else:
                    report.seen.setdefault(q, set()).add(top_texts(response.json()))

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    if during is not None:
        await asyncio.sleep(seconds / 3)
        await asyncio.to_thread(during)
    await asyncio.gather(*tasks)
    return report


def expected_answers(url: str, questions: list[str]) -> dict[str, set[tuple[str, ...]]]:
    """What one client alone gets for each question."""
    with httpx.Client(base_url=url, timeout=120) as http:
        return {q: {top_texts(http.post("/api/ask", json={"question": q, "top_k": 5}).json())} for q in questions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app; default: start one on a free loopback port")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--question", action="append", help="a question to ask (repeatable; default: a fixed set)")
    args = parser.parse_args()
    questions = args.question or QUESTIONS
    if args.url:
        expected = expected_answers(args.url, questions)
        report = asyncio.run(run_load(args.url, questions, args.clients, args.seconds))
    else:
        with running_app({}) as (_, port):
            url = f"http://127.0.0.1:{port}"
            expected = expected_answers(url, questions)
            report = asyncio.run(run_load(url, questions, args.clients, args.seconds))
    print(report.summary())
    print(json.dumps({"rps": round(report.rps, 1), "p50_ms": round(report.percentile(50) * 1000),
                      "p99_ms": round(report.percentile(99) * 1000), "requests": report.requests,
                      "errors": report.errors[:5], "wrong": report.wrong(expected),
                      "seen": {q: sorted(answers) for q, answers in report.seen.items()}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
