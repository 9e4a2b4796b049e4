"""32 concurrent clients over HTTP for 60 s: no errors, every answer correct, also while a document is added."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import sys

import pytest

from qa.service import Service
from qa.web import create_app
from tests.conftest import DATA, ROOT
from tests.live import serving_app

pytestmark = pytest.mark.slow

NEW_DOC = "library.txt", "横沥图书馆\n横沥镇今年新建了三座社区图书馆，藏书共计六万册，方便群众就近读书学习。\n"


def _bench_load():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_32_clients_for_60_seconds_while_a_document_is_added(tmp_path, real_embedder):
    load = _bench_load()
    shutil.copytree(DATA, tmp_path / "data")
    service = Service(tmp_path / "data", tmp_path / "index", embedder=real_embedder)
    service.build()
    with serving_app(create_app(service)) as url:
        before = load.expected_answers(url, load.QUESTIONS)
        add = lambda: service.add_document(NEW_DOC[0], NEW_DOC[1].encode())  # noqa: E731
        report = asyncio.run(load.run_load(url, load.QUESTIONS, clients=32, seconds=60, during=add))
        after = load.expected_answers(url, load.QUESTIONS)
    print(report.summary())
    assert not report.errors, report.errors[:5]
    assert report.requests >= 32 * 2 and set(report.seen) == set(load.QUESTIONS)
    # every answer is the old collection's or the new one's, never anything else
    assert not report.wrong({q: before[q] | after[q] for q in before})
    assert "全镇共有党员1724名" in next(iter(before["横沥镇有多少名党员？"]))[0]
    assert "图书馆" in service.ask("横沥镇新建了几座图书馆？", top_k=1)[0].text  # the added document is in
