"""Uploads and the collection as the page uses them: adding documents, neighbours, info, asking during a rebuild."""

from __future__ import annotations

import shutil
import threading

import pytest

from qa import QAError, Service
from qa.core.settings import DEFAULT_MAX_UPLOAD_MB
from tests.conftest import DATA, LIBRARY, FakeEmbedder


@pytest.mark.usefixtures("store")
def test_added_document_is_saved_and_found_without_restart(service):
    report = service.add_document("library.txt", LIBRARY.encode())
    assert report.built and report.documents == 3
    assert (service.data_dir / "library.txt").read_bytes() == LIBRARY.encode()
    hit = service.ask("横沥镇今年新建了三座图书馆，藏书共计十二万册", top_k=1)[0]
    assert hit.document == "library.txt" and hit.title == "横沥镇图书馆" and hit.date == "2024-03-01"
    assert not [p for p in service.data_dir.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("name", [
    "../evil.txt", "a/../../b.txt", "sub/doc.txt", "/etc/passwd.txt", "C:\\doc.txt", "..", ".hidden.txt",
    "", "   ", "tab\there.txt", "x" * 300 + ".txt",
])
def test_unsafe_names_are_rejected_and_nothing_is_written(service, name):
    before = sorted(p.name for p in service.data_dir.parent.rglob("*"))
    with pytest.raises(QAError, match="file name"):
        service.add_document(name, LIBRARY.encode())
    assert sorted(p.name for p in service.data_dir.parent.rglob("*")) == before


@pytest.mark.parametrize("name, data, message", [
    ("setup.exe", LIBRARY.encode(), "only .txt, .md"),
    ("fake.pdf", LIBRARY.encode(), "fake.pdf"),
    ("big.txt", LIBRARY.encode() * ((DEFAULT_MAX_UPLOAD_MB << 20) // len(LIBRARY.encode()) + 1), "larger than"),
    ("binary.txt", bytes(range(256)) * 10, "binary"),
    ("empty.md", b"", "empty"),
    ("menu.txt", "首页 | 新闻 | 联系我们\n".encode(), "no body text"),
])
def test_unsupported_or_unusable_files_are_rejected(service, name, data, message):
    with pytest.raises(QAError, match=message):
        service.add_document(name, data)
    assert not (service.data_dir / name).exists()


def test_an_existing_document_is_never_overwritten(service):
    original = (service.data_dir / "hengli-2016-party-building.txt").read_bytes()
    with pytest.raises(QAError, match="already exists"):
        service.add_document("hengli-2016-party-building.txt", LIBRARY.encode())
    assert (service.data_dir / "hengli-2016-party-building.txt").read_bytes() == original


@pytest.mark.usefixtures("store")
def test_neighbours_are_the_passages_around_a_hit(service):
    hit = service.ask("全镇共有基层党党支部154个", top_k=1)[0]
    around = service.neighbours(hit.document, hit.position)
    assert [p.position for p in around] == [hit.position - 1, hit.position + 1]
    assert all(p.document == hit.document and p.text and p.text != hit.text for p in around)
    assert [p.position for p in service.neighbours(hit.document, 0, radius=2)] == [1, 2]
    assert service.neighbours("no-such-document.txt", 3) == []


@pytest.mark.usefixtures("store")
def test_info_lists_documents_model_and_index_size(service):
    info = service.info()
    paths = ["hengli-2016-party-building.txt", "hengli-2023-high-quality-development.txt"]
    assert [d.document for d in info.documents] == paths
    assert info.documents[0].meta.title == "根基扎牢 枝繁叶茂" and info.documents[0].passages > 0
    assert info.passages == sum(d.passages for d in info.documents)
    assert info.model == "fake-bigram-64" and info.index_bytes > 0 and info.built


class BlockingEmbedder(FakeEmbedder):
    """Holds every passage batch until released, so a test can act while a build is running."""

    def __init__(self):
        super().__init__()
        self.embedding = threading.Event()
        self.release = threading.Event()

    def embed(self, texts, kind):
        if kind == "passage" and not self.release.is_set():
            self.embedding.set()
            assert self.release.wait(30)
        return super().embed(texts, kind)


def test_questions_are_answered_from_the_old_index_during_a_rebuild(tmp_path, store):
    shutil.copytree(DATA, tmp_path / "data")
    embedder = BlockingEmbedder()
    embedder.release.set()
    service = Service(tmp_path / "data", tmp_path / "index", embedder=embedder, store=store)
    service.build()
    service.ask("党员")
    embedder.release.clear()

    adding = threading.Thread(target=service.add_document, args=("library.txt", LIBRARY.encode()))
    adding.start()
    try:
        assert embedder.embedding.wait(30)
        during = service.ask("横沥镇今年新建了三座图书馆，藏书共计十二万册", top_k=5)
        assert during and all(h.document != "library.txt" for h in during)
    finally:
        embedder.release.set()
        adding.join(30)
    after = service.ask("横沥镇今年新建了三座图书馆，藏书共计十二万册", top_k=1)
    assert after[0].document == "library.txt"


@pytest.mark.usefixtures("store")
def test_a_search_within_chosen_documents_only_returns_their_passages(service):
    from tests.conftest import DEVELOPMENT, PARTY

    everywhere = {h.document for h in service.ask("党员", top_k=20)}
    assert everywhere == {PARTY, DEVELOPMENT}
    for chosen in ([PARTY], [DEVELOPMENT]):
        hits = service.ask("党员", top_k=20, documents=chosen)
        assert hits and {h.document for h in hits} == set(chosen)
    assert service.ask("党员", documents=[]) == service.ask("党员")  # none chosen: all, as on the page
    with pytest.raises(QAError, match="没有这些文档"):
        service.ask("党员", documents=["missing.txt"])


@pytest.mark.usefixtures("store")
def test_a_removed_document_leaves_the_folder_and_the_index_and_is_kept_aside(service):
    from tests.conftest import PARTY

    report = service.remove_document(PARTY)
    assert report.built and report.documents == 1 and not (service.data_dir / PARTY).exists()
    assert all(h.document != PARTY for h in service.ask("横沥镇有多少名党员？", top_k=20))
    assert [p.name for p in (service.index_dir / "removed").rglob("*.txt")] == [PARTY]
    with pytest.raises(QAError, match="没有文档"):
        service.remove_document(PARTY)


@pytest.mark.parametrize("place", ["data/index", "data/sub/../index"])
def test_an_index_folder_inside_the_data_folder_is_not_read_as_documents(tmp_path, fake_embedder, place):
    from tests.conftest import PARTY

    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    (data / "sub").mkdir()
    service = Service(data, tmp_path / place, embedder=fake_embedder)
    service.build()
    service.remove_document(PARTY)  # kept aside in index/removed/, inside the data folder
    assert (data / "index" / "removed").is_dir()
    assert not service.build().built
    assert {d.document for d in service.documents()} == {p.name for p in DATA.glob("*.txt")} - {PARTY}
    hits = service.ask("横沥镇有多少名党员？", top_k=20)
    assert all(h.document != PARTY and not h.document.startswith("index/") for h in hits)


def test_removing_a_link_removes_the_link_not_the_file_it_points_to(service):
    from tests.conftest import PARTY

    (service.data_dir / "link.txt").symlink_to(PARTY)
    service.build()
    assert "link.txt" in {d.document for d in service.info().documents}
    report = service.remove_document("link.txt")
    assert report.documents == 2 and not report.warnings
    assert not (service.data_dir / "link.txt").is_symlink() and (service.data_dir / PARTY).is_file()
    assert [p.name for p in (service.index_dir / "removed").rglob("*")][-1] == "link.txt"


def test_the_last_document_cannot_be_removed(service):
    from tests.conftest import DEVELOPMENT, PARTY

    service.remove_document(DEVELOPMENT)
    with pytest.raises(QAError, match="last document"):
        service.remove_document(PARTY)
    assert (service.data_dir / PARTY).is_file()
    assert {h.document for h in service.ask("横沥镇有多少名党员？", top_k=3)} == {PARTY}


def test_a_document_reads_back_in_order(service):
    from tests.conftest import PARTY

    passages = service.document(PARTY)
    assert [p.position for p in passages] == list(range(len(passages))) and len(passages) > 5
    hit = service.ask("横沥镇有多少名党员？", top_k=1)[0]
    assert passages[hit.position].text == hit.text
    with pytest.raises(QAError):
        service.document("missing.txt")
