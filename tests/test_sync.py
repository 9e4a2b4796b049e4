"""The incremental index with the fake embedder: add/change/delete cycles, stable ids, the embedding cache, safety."""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading

import numpy as np
import pytest

from qa import QAError, Service
from qa.embed.cache import EmbeddingCache
from qa.answer.search import search
from qa.index.base import FORMAT_VERSION
from qa.index import faiss_store, lexical
from qa.index.faiss_store import FolderStore, PassageStore
from qa.index.lexical import read_words, tokenize
from tests.conftest import DATA, DEVELOPMENT, LIBRARY, LIBRARY_BODY, PARTY, FakeEmbedder, first_use
from tests.make_docs import docx_file, html_page, pdf_file, real_article

FACT = "全镇共有党员1724名"
NEW_FACT = "全镇共有党员1999名"
QUESTION = "至2010年9月底,全镇共有党员多少名,其中正式党员1681名"


@pytest.fixture
def data(folders):
    return folders[0]


def passages_by_doc(service) -> dict[str, list[tuple[int, str]]]:
    stored = service.open().passages(list(range(service.store.next_id())))
    out: dict[str, list[tuple[int, str]]] = {}
    for pid in sorted(stored):
        out.setdefault(stored[pid].document, []).append((pid, stored[pid].text))
    return out


def everything(service) -> list:
    """Every hit for a question, so nothing indexed can hide below the cut."""
    return service.ask("横沥镇党员", top_k=100)


def test_change_add_delete_cycle_keeps_answers_right(service, data, fake_embedder, store):
    before = passages_by_doc(service)

    # change: a fact in one document
    path = data / PARTY
    path.write_text(path.read_text(encoding="utf-8").replace(FACT, NEW_FACT), encoding="utf-8")
    report = service.build()
    assert report.built and not report.full and report.read == 1 and report.removed == 1
    assert report.reason == "documents changed: 0 new, 1 changed, 0 removed"
    assert report.embedded == 1  # only the edited passage; the rest of the document came from the cache
    top = service.ask(QUESTION, top_k=1)[0]
    assert NEW_FACT in top.text and top.document == PARTY
    assert not any(FACT in h.text for h in everything(service))
    after = passages_by_doc(service)
    assert after[DEVELOPMENT] == before[DEVELOPMENT]  # the unchanged document kept its ids

    # add
    (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
    report = service.build()
    assert (report.read, report.removed, report.embedded, report.documents) == (1, 0, 1, 3)
    assert service.ask("新建了三座图书馆", top_k=1)[0].document == "library.txt"
    assert passages_by_doc(service)[PARTY] == after[PARTY]

    # delete
    path.unlink()
    report = service.build()
    assert report.reason == "documents changed: 0 new, 0 changed, 1 removed"
    assert (report.read, report.removed, report.embedded, report.documents) == (0, 1, 0, 2)
    assert all(h.document != PARTY for h in everything(service))
    assert {d.document for d in service.documents()} == {DEVELOPMENT, "library.txt"}

    # and a fresh service over the same folders sees the same
    fresh = Service(data, service.index_dir, embedder=fake_embedder, store=store)
    assert not fresh.build().built
    assert all(h.document != PARTY for h in everything(fresh))


@pytest.mark.usefixtures("store")
def test_unchanged_folder_costs_nothing(service, fake_embedder):
    calls = fake_embedder.calls
    report = service.build()
    assert not report.built and fake_embedder.calls == calls


@pytest.mark.usefixtures("store")
def test_rename_and_resplit_do_not_re_embed(service, data):
    before = {text for rows in passages_by_doc(service).values() for _, text in rows}
    (data / PARTY).rename(data / "renamed.txt")
    report = service.build()
    assert (report.read, report.removed, report.embedded) == (1, 1, 0)
    assert {h.document for h in everything(service)} == {DEVELOPMENT, "renamed.txt"}

    # A new paragraph in the middle shifts every later passage: only the new one is embedded.
    path = data / "renamed.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(8, LIBRARY_BODY)
    path.write_text("\n".join(lines), encoding="utf-8")
    report = service.build()
    assert report.embedded == 1
    after = {text for rows in passages_by_doc(service).values() for _, text in rows}
    assert after - before == {LIBRARY_BODY}


def test_model_change_and_explicit_rebuild_are_full_and_said_plainly(service, data, tmp_path, store):
    other = FakeEmbedder()
    other.name = "another-model"
    report = Service(data, service.index_dir, embedder=other, store=store).build()
    assert report.full and "another-model" in report.reason and "embedded again" in report.reason
    assert report.embedded == report.passages

    # Switching back finds the first model's vectors still cached.
    back = Service(data, service.index_dir, embedder=FakeEmbedder(), store=store).build()
    assert back.full and back.embedded == 0

    forced = Service(data, service.index_dir, embedder=FakeEmbedder(), store=store).build(force=True)
    assert forced.full and forced.reason == "a rebuild was requested" and forced.embedded == forced.passages


def test_old_index_format_means_a_full_rebuild(service, data):
    manifest = service.index_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 1'))
    report = Service(data, service.index_dir, embedder=FakeEmbedder()).build()
    assert report.full and f"index format changed (1 -> {FORMAT_VERSION})" in report.reason and report.embedded == 0


def bm25_words(service) -> dict[int, list[str]]:
    """Each passage's words as the current FAISS build keeps them for the next update."""
    collection = service.open()
    return read_words(collection.folder / lexical.FOLDER)


@pytest.mark.parametrize("kept_words", [True, False], ids=["words-kept", "build-from-before-words-were-kept"])
def test_an_update_cuts_only_the_new_passages_into_words(service, data, monkeypatch, kept_words):
    if not kept_words:  # what an index built before this version holds: no words file, none in the manifest
        folder = service.open().folder / lexical.FOLDER
        (folder / lexical.WORDS_FILE).unlink()
        path = service.index_dir / "manifest.json"
        manifest = json.loads(path.read_text())
        del manifest["files"][f"{lexical.FOLDER}/{lexical.WORDS_FILE}"]
        path.write_text(json.dumps(manifest))
    kept = {pid: text for rows in passages_by_doc(service).values() for pid, text in rows}
    cut: list[str] = []
    monkeypatch.setattr(faiss_store, "tokenize", lambda text: cut.append(text) or tokenize(text))
    (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
    report = service.build()

    assert report.built and not report.full
    new = [text for _, text in passages_by_doc(service)["library.txt"]]
    assert sorted(cut) == sorted(new + ([] if kept_words else list(kept.values())))
    texts = {pid: text for rows in passages_by_doc(service).values() for pid, text in rows}
    assert bm25_words(service) == {pid: tokenize(text) for pid, text in texts.items()}
    assert service.ask("新建了三座图书馆", top_k=1)[0].document == "library.txt"


def test_cache_holds_the_current_passages_and_after_a_full_build_only_them(service, data):
    def cached_and_current() -> tuple[int, int]:
        cache = EmbeddingCache(service.index_dir / "embeddings.sqlite", service.model, 64)
        index = service.open()
        texts = {r.id: r.text for r in index.store.passage_rows()}
        clauses = {texts[int(pid)][a:b] for pid, a, b, _ in index.clause_table}
        try:
            return len(cache), len(set(texts.values()) | clauses)  # passages and their clauses, each text once
        finally:
            cache.close()

    (data / PARTY).unlink()
    service.build()
    cached, current = cached_and_current()
    assert cached > current  # the removed document's vectors stay until a full build
    service.build(force=True)
    cached, current = cached_and_current()
    assert cached == current


def test_damaged_cache_is_replaced(service, data, caplog):
    (service.index_dir / "embeddings.sqlite").write_bytes(b"this is not a database" * 100)
    (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
    report = service.build()
    assert report.built and report.embedded == 1
    assert "embedding cache" in caplog.text and "damaged" in caplog.text


class Killed(BaseException):
    """What a kill looks like from inside: not an error a build can skip a document for."""


class RecordingEmbedder(FakeEmbedder):
    """Remembers every text it embedded."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def embed(self, texts, kind):
        vectors = super().embed(texts, kind)
        self.seen.update(texts)
        return vectors


class ExplodingEmbedder(RecordingEmbedder):
    """Is killed on its second batch, like a build killed half way."""

    def embed(self, texts, kind):
        if self.calls >= 1:
            raise Killed("killed")
        return super().embed(texts, kind)


def test_failed_build_leaves_the_current_index_whole(service, data, store):
    answer, manifest = service.ask(QUESTION, top_k=3), service.store.read_manifest()
    for i in range(100):  # enough new passages for two embedding batches
        (data / f"new-{i:03}.txt").write_text(f"第{i}号通知\n横沥镇第{i}号通知：各村要做好第{i}项工作，确保按时完成任务。\n",
                                              encoding="utf-8")
    broken = Service(data, service.index_dir, embedder=ExplodingEmbedder(), store=store)
    with pytest.raises(Killed):
        broken.build()
    assert service.store.read_manifest() == manifest
    current = service.store.open()
    assert len(current.passages(list(range(service.store.next_id())))) == manifest.passages
    assert service.ask(QUESTION, top_k=3) == answer

    # The batch embedded before the failure is in the cache, so the retry embeds only the rest.
    again = RecordingEmbedder()
    retry = Service(data, service.index_dir, embedder=again, store=store).build()
    assert retry.built and len(broken.embedder.seen) == 64 and again.seen and not again.seen & broken.embedder.seen
    assert service.ask("横沥镇第7号通知：各村要做好第7项工作，确保按时完成任务。", top_k=1)[0].document == "new-007.txt"


def test_a_reader_keeps_its_build_while_a_new_one_is_made_then_moves_on(service, data, fake_embedder):
    reader = Service(data, service.index_dir, embedder=fake_embedder)
    old = reader.open()
    old_hits = reader.ask(QUESTION, top_k=5)
    old_ids = old.vectors.ids().copy()
    (data / PARTY).unlink()
    Service(data, service.index_dir, embedder=fake_embedder).build()
    # The build the reader had loaded is untouched: same vectors, same passages, same answers.
    assert np.array_equal(old.vectors.ids(), old_ids)
    assert search(old, QUESTION, fake_embedder.embed([QUESTION], "query")[0], 5).hits == old_hits
    # Its next question is answered from the new build.
    assert all(h.document != PARTY for h in reader.ask(QUESTION, top_k=100))


def test_deleting_every_document_is_an_error_not_stale_answers(service, data, store):
    for path in data.iterdir():
        path.unlink()
    with pytest.raises(QAError, match="No readable documents"):
        first_use(Service(data, service.index_dir, embedder=FakeEmbedder(), store=store))


def test_every_format_is_indexed_and_pdf_hits_carry_pages(tmp_path, fake_embedder, store):
    data = tmp_path / "data"
    data.mkdir()
    article = real_article(DEVELOPMENT, sections=3)
    (data / "page.html").write_bytes(html_page(article, "gbk"))
    (data / "report.pdf").write_bytes(pdf_file(real_article()))
    (data / "summary.docx").write_bytes(docx_file(real_article()))
    (data / "junk.pdf").write_bytes(b"%PDF-1.4 garbage")
    service = Service(data, tmp_path / "index", embedder=fake_embedder, store=store)
    report = service.build()
    assert report.documents == 3 and [w.split()[0] for w in report.warnings] == ["junk.pdf"]

    pdf_hits = [h for h in service.ask("全镇共有基层党党支部154个", top_k=20) if h.document == "report.pdf"]
    assert pdf_hits and pdf_hits[0].page == 3 and all(h.page for h in pdf_hits)
    html_hit = next(h for h in service.ask(article.paragraphs[1], top_k=5) if h.document == "page.html")
    assert (html_hit.title, html_hit.source, html_hit.date, html_hit.page) == (
        article.title, article.source, article.date, None)


def test_passage_rows_round_trip(service):
    index = FolderStore(service.index_dir).open()
    rows = index.store.passage_rows()
    assert sorted(index.vectors.ids().tolist()) == [r.id for r in rows]
    PassageStore.write(service.index_dir / "copy.sqlite", "b", index.store.document_rows(), rows)
    copy = PassageStore(service.index_dir / "copy.sqlite")
    assert copy.passage_rows() == rows and copy.document_rows() == index.store.document_rows()


def wait_for_state(states: queue.Queue, wanted: str) -> None:
    """Block until the watcher reports `wanted` (see qa.surfaces.watch.follow's on_state)."""
    while states.get(timeout=30) != wanted:
        pass


@pytest.mark.usefixtures("store")
def test_watch_follows_the_data_folder(service, data):
    from qa.surfaces.watch import follow

    reports, stop, states = [], threading.Event(), queue.Queue()

    def on_build(report):
        reports.append(report)
        stop.set()

    watcher = threading.Thread(target=follow, args=(service, on_build, stop), kwargs={"on_state": states.put})
    watcher.start()
    try:
        wait_for_state(states, "watching")
        (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
        assert stop.wait(30), "the watcher did not update the index"
    finally:
        stop.set()
        watcher.join(10)
    assert reports[0].read == 1 and not reports[0].full
    assert service.ask("新建了三座图书馆", top_k=1)[0].document == "library.txt"


def test_watch_goes_on_past_a_file_name_that_is_not_utf8(service, data):
    from qa.surfaces.watch import follow

    reports, stop, states = [], threading.Event(), queue.Queue()
    watcher = threading.Thread(target=follow, args=(service, reports.append, stop), kwargs={"on_state": states.put})
    watcher.start()
    try:
        wait_for_state(states, "watching")
        with open(os.path.join(os.fsencode(data), b"bad\xff.txt"), "wb") as f:
            f.write(LIBRARY.encode())
        wait_for_state(states, "watching")  # the watch could not name that change, and started again
        (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
        for _ in range(300):
            if any(r.documents == 3 for r in reports):
                break
            threading.Event().wait(0.1)
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive() and any(r.documents == 3 for r in reports)
    assert any("not UTF-8" in w for r in reports for w in r.warnings)


@pytest.mark.parametrize("how", ["deleted and made again", "swapped for another"])
def test_watch_follows_a_data_folder_that_is_replaced(service, data, how):
    from qa.surfaces.watch import follow

    reports, stop, states = [], threading.Event(), queue.Queue()
    watcher = threading.Thread(target=follow, args=(service, reports.append, stop), kwargs={"on_state": states.put})
    watcher.start()
    try:
        wait_for_state(states, "watching")
        if how == "deleted and made again":
            shutil.rmtree(data)
            wait_for_state(states, "waiting")
            data.mkdir()
        else:
            new = data.with_name("data.new")
            new.mkdir()
            data.rename(data.with_name("data.old"))
            new.rename(data)
        shutil.copy(DATA / PARTY, data / PARTY)
        wait_for_state(states, "watching")  # on the new folder
        (data / "library.txt").write_text(LIBRARY, encoding="utf-8")  # a change after the new folder came
        indexed = set()  # read from the store, which builds nothing (a question would bring the index up to date)
        for _ in range(300):
            indexed = {row.document for row in service.store.document_rows()}
            if indexed == {PARTY, "library.txt"}:
                break
            threading.Event().wait(0.1)
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()
    assert indexed == {PARTY, "library.txt"}, reports


def test_cli_report_says_what_was_done(service, data, store):
    from qa.surfaces.cli import format_report

    (data / "library.txt").write_text(LIBRARY, encoding="utf-8")
    assert format_report(service.build()).startswith(
        "Updated the index (documents changed: 1 new, 0 changed, 0 removed): 1 file read, 1 passage embedded; "
        "now 3 documents, ")
    other = FakeEmbedder()
    other.name = "another-model"
    line = format_report(Service(data, service.index_dir, embedder=other, store=store).build())
    assert line.startswith("Rebuilt the index (the index was built with model fake-bigram-64, the service now uses "
                           "another-model, so every passage is embedded again): 3 files read")
    assert format_report(Service(data, service.index_dir, embedder=other, store=store).build()) == (
        "Nothing to do: the index is up to date.")
