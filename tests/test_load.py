"""32 concurrent clients over HTTP for 60 s (bench/load.py, run as a program): no errors, every answer right,
also while a document is added."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from qa.service import Service
from qa.surfaces.web import create_app
from tests.conftest import DATA, ROOT
from tests.live import serving_app

pytestmark = pytest.mark.slow

NEW_DOC = "library.txt", "横沥图书馆\n横沥镇今年新建了三座社区图书馆，藏书共计六万册，方便群众就近读书学习。\n"
QUESTIONS = ["横沥镇有多少名党员？", "How many party members does Hengli town have?", "镇领导驻村是每周几？",
             "横沥镇如何推进乡村振兴？", "横沥镇新建了几座图书馆？"]


def answers(url: str) -> dict[str, tuple[str, ...]]:
    """Each question's top three passages, asked alone."""
    return {q: tuple(h["text"] for h in httpx.post(f"{url}/api/ask", json={"question": q, "top_k": 5},
                                                    timeout=120).json()["hits"][:3]) for q in QUESTIONS}


def test_32_clients_for_60_seconds_while_a_document_is_added(tmp_path, real_embedder):
    shutil.copytree(DATA, tmp_path / "data")
    service = Service(tmp_path / "data", tmp_path / "index", embedder=real_embedder)
    service.build()
    with serving_app(create_app(service)) as url:
        before = answers(url)
        load = subprocess.Popen([sys.executable, str(ROOT / "bench" / "load.py"), "--url", url, "--clients", "32",
                                 "--seconds", "60", *(arg for q in QUESTIONS for arg in ("--question", q))],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(20)
        service.add_document(NEW_DOC[0], NEW_DOC[1].encode())
        out, _ = load.communicate(timeout=600)
        after = answers(url)
    report = json.loads(out.strip().splitlines()[-1])
    assert load.returncode == 0 and not report["errors"], report["errors"]
    assert report["requests"] >= 32 * 2 and set(report["seen"]) == set(QUESTIONS)
    # every answer is the old collection's or the new one's, never anything else
    assert all(tuple(seen) in {before[q], after[q]} for q, answers_seen in report["seen"].items()
               for seen in answers_seen)
    assert "全镇共有党员1724名" in before["横沥镇有多少名党员？"][0]
    assert "图书馆" in after["横沥镇新建了几座图书馆？"][0] != before["横沥镇新建了几座图书馆？"][0]
