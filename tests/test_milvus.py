"""What only the Milvus store has: the setting, builds behind an alias, repair of an interrupted update,
the full-text fallback, a shared server; and, with the real model, the same answers as the FAISS store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import grpc
import httpx
from pymilvus.exceptions import MilvusException

from qa import QAError, Service, Settings
from qa.surfaces.cli import format_report
from qa.core.errors import StoreUnavailable
from qa.surfaces.evaluate import evaluate, read_questions
from qa.service import BuildReport
from qa.index.factory import open_store
from qa.index.milvus_store import MANIFEST_KEY, MilvusStore, int_index_type, store_error, supports_full_text
from qa.surfaces.web import create_app
from tests.conftest import DATA, DEV_SET, DEVELOPMENT, LIBRARY, MILVUS_SERVER, PARTY, ROOT
from tests.live import serving_app

pytestmark = pytest.mark.milvus


@pytest.fixture
def lite(tmp_path):
    """The setting for a Milvus Lite file in tmp_path; its in-process server is stopped afterwards."""
    yield f"milvus:{tmp_path / 'milvus.db'}"
    from milvus_lite import server_manager_instance

    server_manager_instance.release_server(str(tmp_path / "milvus.db"))


@pytest.fixture(params=["lite", pytest.param("server", marks=MILVUS_SERVER)])
def milvus(request, tmp_path):
    """The setting for a Milvus Lite file in tmp_path, then for the session's real Milvus 2.3 server, emptied."""
    if request.param == "server":
        yield request.getfixturevalue("milvus23_store")
        return
    yield f"milvus:{tmp_path / 'milvus.db'}"
    from milvus_lite import server_manager_instance

    server_manager_instance.release_server(str(tmp_path / "milvus.db"))


def test_the_store_setting(tmp_path):
    lite = open_store(f"milvus:{tmp_path}/x.db", tmp_path / "my-index")
    assert isinstance(lite, MilvusStore) and not lite.shared
    assert lite.uri == str(tmp_path / "x.db") and lite.name == "my_index"
    server = open_store("milvus://milvus.example:19530", "index")
    assert server.shared and server.uri == "http://milvus.example:19530" and server.name == "index"
    assert open_store("milvus:https://cloud.example:443", "2024").name == "_2024"
    assert Settings.from_env({"QA_STORE": " milvus://db:19530 "}).store == "milvus://db:19530"
    assert open_store(None, "index").describe() == "index"  # FAISS folders unless a store is named
    for bad in ["milvus:", "milvus:somewhere"]:
        with pytest.raises(QAError, match="milvus:PATH.db"):
            open_store(bad, "index")
    for bad in ["milvus://127.0.0.1:99999", "milvus://[::1", "milvus://:19530", "milvus:http://db:port"]:
        with pytest.raises(QAError, match=r"milvus://HOST:PORT\.$"):
            open_store(bad, "index")


def test_full_text_search_needs_milvus_2_5():
    assert supports_full_text("v2.5.4") and supports_full_text("v2.6.0") and supports_full_text("milvus_lite-3.2.2")
    assert not supports_full_text("v2.4.13") and not supports_full_text("unknown")


def test_the_scalar_index_the_server_has():
    assert int_index_type("v2.3.5") == int_index_type("v2.3.5-lite") == "STL_SORT"  # the PyPI server says -lite
    assert int_index_type("v2.4.13") == int_index_type("v2.5.4") == int_index_type("milvus_lite-3.2.2") == "INVERTED"


class _Deadline(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self):
        return "Deadline Exceeded"


def test_milvus_and_grpc_errors_become_one_sentence_saying_what_to_do():
    uri = "http://127.0.0.1:19530"
    down = store_error(MilvusException(code=2, message="Fail connecting to server on 127.0.0.1:19530"), uri, "search")
    loading = store_error(MilvusException(code=101, message="collection not loaded"), uri, "query")
    hung = store_error(_Deadline(), uri, "search", 10)
    for error in (down, loading, hung):
        assert isinstance(error, StoreUnavailable) and str(error).count(". ") == 0
        assert str(error).startswith(f"Milvus at {uri} is unavailable (") and "ask again" in str(error)
    assert "no answer to search within 10 s" in str(hung)
    refused = store_error(MilvusException(code=1100, message="index type not match"), uri, "create_collection")
    assert type(refused) is QAError and "refused create_collection (index type not match" in str(refused)
    assert "qa index --rebuild" in str(refused)
    damaged = store_error(MilvusException(code=1, message="Expecting value"), "/data/x.db", "list_aliases")
    assert "move /data/x.db away and run `qa index`" in str(damaged)  # --rebuild cannot repair a Lite file
    assert store_error(ValueError("not Milvus's"), uri, "search") is None


def test_a_store_that_is_down_is_a_503_on_the_json_api(service, monkeypatch):
    def down(*args, **kwargs):
        raise StoreUnavailable("Milvus at http://127.0.0.1:1 is unavailable (search: refused): check the server.")

    monkeypatch.setattr(service, "answer", down)
    with serving_app(create_app(service)) as url:
        response = httpx.post(f"{url}/api/ask", json={"question": "党员"}, timeout=60)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "Milvus at http://127.0.0.1:1 is unavailable (search: refused): check the "
                                         "server."}


def test_a_vectors_only_build_says_so():
    report = BuildReport(built=True, reason="a rebuild was requested", documents=2, passages=33, full=True)
    assert "vectors alone" not in format_report(report)
    assert format_report(BuildReport(**{**report.__dict__, "lexical": False})).endswith(
        "This Milvus has no BM25 full-text search (it needs Milvus 2.5 or later): questions are answered from the "
        "vectors alone.")


@pytest.mark.slow
def test_a_full_build_moves_the_alias_and_keeps_only_the_build_it_replaced(folders, fake_embedder, milvus):
    service = Service(*folders, embedder=fake_embedder, store=milvus)
    service.build()
    first = service.store.read_manifest().build
    service.build(force=True)
    second = service.store.read_manifest().build
    service.build(force=True)
    third = service.store.read_manifest()
    client = service.store.client
    assert client.describe_alias("index")["collection_name"] == third.build
    expected = {b + suffix for b in (second, third.build) for suffix in ("", "__clauses", "__documents")}
    assert set(client.list_collections()) == expected and first not in expected
    assert sum(d.passages for d in service.documents()) == third.passages


def test_an_update_is_made_in_place_and_an_interrupted_one_is_repaired(folders, fake_embedder, milvus, monkeypatch):
    data, index = folders
    service = Service(data, index, embedder=fake_embedder, store=milvus)
    service.build()
    build = service.store.read_manifest().build
    (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
    # The update writes the new passages and clauses, then dies before the documents and the manifest.
    client = service.store.client
    real = client.upsert
    monkeypatch.setattr(client, "upsert", lambda *a, **k: (_ for _ in ()).throw(OSError("down")))
    with pytest.raises(OSError, match="down"):
        service.build()
    monkeypatch.setattr(client, "upsert", real)

    report = service.build()  # the manifest still differs from the data: the update runs again
    assert report.built and not report.full and report.read == 1 and service.stale_reason() is None
    manifest = service.store.read_manifest()
    assert manifest.build == build and manifest.documents == 3
    collection = service.open()
    ids = list(range(service.store.next_id()))
    assert len(collection.passages(ids)) == manifest.passages == sum(d.passages for d in service.documents())
    clauses = collection.clauses(ids)
    spans = list(zip(clauses.passage_ids.tolist(), map(tuple, clauses.spans.tolist())))
    assert len(spans) == len(set(spans))  # nothing written twice
    assert service.ask("新建了三座图书馆", top_k=1)[0].document == "library.txt"


def test_a_new_process_updates_a_lite_index_whose_collections_are_not_loaded(folders, fake_embedder, lite):
    data, index = folders
    first = Service(data, index, embedder=fake_embedder, store=lite)
    first.build()
    first.close()  # stops the Lite server: the next one starts with every collection released, as a new process's
    (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
    service = Service(data, index, embedder=fake_embedder, store=lite)
    report = service.build()
    assert report.built and not report.full and report.read == 1 and report.documents == 3
    assert service.ask("新建了三座图书馆", top_k=1)[0].document == "library.txt"


@pytest.mark.slow
def test_a_damaged_or_incomplete_build_is_reported_and_rebuilt(folders, fake_embedder, milvus):
    service = Service(*folders, embedder=fake_embedder, store=milvus)
    service.build()
    build = service.store.read_manifest().build
    service.store.client.alter_collection_properties(build, {MANIFEST_KEY: "{not json"})
    with pytest.raises(QAError, match="damaged.*rebuild"):
        Service(*folders, embedder=fake_embedder, store=milvus).ask("党员")
    Service(*folders, embedder=fake_embedder, store=milvus).build(force=True)

    build = service.store.read_manifest().build
    service.store.client.drop_collection(f"{build}__clauses")
    with pytest.raises(QAError, match=f"missing {build}__clauses.*rebuild"):
        Service(*folders, embedder=fake_embedder, store=milvus).ask("党员")
    Service(*folders, embedder=fake_embedder, store=milvus).build(force=True)
    assert Service(*folders, embedder=fake_embedder, store=milvus).ask("党员")


@pytest.mark.slow
def test_without_the_manifest_property_the_manifest_is_read_from_the_documents_row(folders, fake_embedder, lite):
    service = Service(*folders, embedder=fake_embedder, store=lite)
    service.build()
    manifest = service.store.read_manifest()
    # What Milvus 2.3 does to collection properties when it restarts.
    service.store.client.drop_collection_properties(manifest.build, [MANIFEST_KEY])
    assert MANIFEST_KEY not in service.store.client.describe_collection(manifest.build)["properties"]
    assert service.store.read_manifest() == manifest and service.stale_reason() is None
    assert service.ask("全镇共有基层党党支部154个") and len(service.documents()) == 2


@pytest.mark.slow
def test_milvus_full_text_search_finds_words_and_is_left_out_where_missing(folders, fake_embedder, lite, monkeypatch):
    service = Service(*folders, embedder=fake_embedder, store=lite)
    service.build()
    ids, scores = service.open().lexical("预备党员有多少名", 3)
    assert len(ids) == 3 and scores[0] >= scores[-1] > 0
    assert "预备党员43名" in service.open().passages([int(ids[0])])[int(ids[0])].text

    assert service.info().lexical
    monkeypatch.setattr("qa.index.milvus_store.supports_full_text", lambda version: False)
    assert not service.build(force=True).lexical
    collection = service.open()
    assert not collection.has_lexical and len(collection.lexical("预备党员有多少名", 3)[0]) == 0
    assert not service.info().lexical and not service.store.read_manifest().lexical
    assert len(service.ask("预备党员有多少名", top_k=5)) == 5  # answered from the vectors alone


@pytest.fixture
def milvus_server(tmp_path):
    """A Milvus Lite server on a free local port, standing in for a shared Milvus server."""
    from milvus_lite.adapter.grpc.server import start_server_in_thread

    server, db, port = start_server_in_thread(str(tmp_path / "server-data"), host="127.0.0.1", port=0)
    yield f"milvus://127.0.0.1:{port}"
    server.stop(grace=0)
    db.close()


@pytest.mark.slow
def test_replicas_share_a_server_index_and_never_build_it(folders, fake_embedder, milvus_server, tmp_path):
    data, index = folders
    replica_dirs = (tmp_path / "replica" / "no-data", tmp_path / "replica" / "index")
    with pytest.raises(QAError, match="no index.*qa index"):
        Service(*replica_dirs, embedder=fake_embedder, store=milvus_server).ask("党员")

    builder = Service(data, index, embedder=fake_embedder, store=milvus_server)
    assert builder.build().built
    replica = Service(*replica_dirs, embedder=fake_embedder, store=milvus_server)
    question = "全镇共有基层党党支部154个"
    assert replica.ask(question) == builder.ask(question)
    assert replica.documents() == builder.documents()
    assert not (tmp_path / "replica").exists()

    (data / PARTY).unlink()
    builder.build()
    assert all(h.document != PARTY for h in replica.ask(question, top_k=20))
    assert [d.document for d in replica.documents()] == [DEVELOPMENT]


def test_an_unreachable_server_is_a_clear_error(folders, fake_embedder):
    with pytest.raises(QAError, match="Cannot open Milvus at http://127.0.0.1:1"):
        Service(*folders, embedder=fake_embedder, store="milvus://127.0.0.1:1").ask("党员")


@pytest.mark.slow
def test_a_lite_file_held_by_another_process_is_a_clear_error(folders, fake_embedder, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pymilvus import MilvusClient; "
         f"MilvusClient({str(tmp_path / 'held.db')!r}); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(QAError, match="one process at a time"):
            Service(*folders, embedder=fake_embedder, store=f"milvus:{tmp_path / 'held.db'}").ask("党员")
    finally:
        holder.kill()
        holder.wait()


# --- with the real model -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_milvus_service(real_embedder, tmp_path_factory):
    """The real-model service on Milvus Lite, over its own copy of data/."""
    base = tmp_path_factory.mktemp("real-milvus")
    shutil.copytree(DATA, base / "data")
    service = Service(base / "data", base / "index", embedder=real_embedder, store=f"milvus:{base / 'milvus.db'}")
    service.build()
    yield service
    service.store.close()


@pytest.mark.slow
def test_milvus_answers_the_dev_set_as_faiss_does(real_service, real_milvus_service, record_property):
    if not DEV_SET.exists():
        pytest.skip(f"{DEV_SET} not present")
    questions = read_questions(DEV_SET)
    faiss_report = evaluate(real_service, questions, 10)
    milvus_report = evaluate(real_milvus_service, questions, 10)
    figures = {name: {"hit@1": r.hit_at_1, "hit@5": r.hit_at_5, "mrr@10": r.mrr_at_10, "span@1": r.span_at_1}
               for name, r in (("faiss", faiss_report), ("milvus", milvus_report))}
    record_property("dev", figures)
    print("\ndev set:", figures)
    assert (milvus_report.hit_at_1, milvus_report.hit_at_5) == (faiss_report.hit_at_1, faiss_report.hit_at_5)
    same_top5 = [[(h.document, h.position) for h in real_milvus_service.ask(q.q)]
                 == [(h.document, h.position) for h in real_service.ask(q.q)] for q in questions]
    record_property("same top 5", f"{sum(same_top5)}/{len(same_top5)}")
    print("same top 5:", f"{sum(same_top5)}/{len(same_top5)}")
    assert sum(same_top5) >= len(same_top5) - 1


@pytest.mark.slow
def test_cli_index_and_ask_with_milvus_lite(tmp_path):
    shutil.copytree(DATA, tmp_path / "data")
    folders = ["--data", str(tmp_path / "data"), "--index", str(tmp_path / "index"),
               "--store", f"milvus:{tmp_path / 'milvus.db'}"]

    def qa(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "qa", *args, *folders], capture_output=True, text=True,
                              timeout=600, cwd=ROOT)

    built = qa("index")
    assert built.returncode == 0 and "now 2 documents" in built.stdout, built.stderr
    assert "Nothing to do" in qa("index").stdout
    asked = qa("ask", "--json", "-k", "3", "横沥镇有多少名党员？")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "全镇共有党员1724名" in answer["hits"][0]["text"] and len(answer["hits"]) == 3
